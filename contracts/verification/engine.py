"""``verify_log``: stream records through the parallel and the sequential steps.

Input is any iterable of ``(position, record bytes)`` (an export file's lines,
a Kafka topic's messages) plus the signed checkpoint notes. Per-record work
(parse, canonical check, signature) is handed to a *mapper* in chunks: the
default runs it in this process; ``services`` passes a process pool. The
sequential checks then consume the facts in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

from certlife.contracts.notes import NoteVerifier
from certlife.contracts.trust import TrustFile
from certlife.contracts.verification.checkpoints import CheckpointInput, open_checkpoint
from certlife.contracts.verification.facts import BatchChunk, Facts, runs_for_chunk
from certlife.contracts.verification.log import LogVerifier
from certlife.contracts.verification.report import VerificationReport, reporting

#: Maps :func:`runs_for_chunk` (or ``batch_for_chunk``) over chunks, yielding results in chunk order.
FactMapper = Callable[[Iterable[BatchChunk]], Iterator[Sequence[Facts]]]
#: Builds units of work other than :data:`BatchChunk` (e.g. byte ranges of a file that
#: workers read themselves) from the verifier, passing ``verifier.directory`` along (the
#: verifier learns keys from rotation records as it checks them, and checks again the
#: records whose facts were computed before it knew their key).
WorkPlanner = Callable[[LogVerifier], Iterable[Any]]
#: Maps a planner's units to facts, yielding results in unit order.
UnitMapper = Callable[[Iterable[Any]], Iterator[Sequence[Facts]]]
CHUNK_SIZE = 1000


def serial_mapper(chunks: Iterable[BatchChunk]) -> Iterator[Sequence[Facts]]:
    """Compute facts in this process, one chunk at a time."""
    return map(runs_for_chunk, chunks)


def record_chunks(
    records: Iterable[tuple[int, bytes]], verifier: LogVerifier, size: int = CHUNK_SIZE
) -> Iterator[BatchChunk]:
    """``records`` in chunks of ``size`` for the fact mapper, each with the verifier's key state as it is then."""
    batch: list[tuple[int, bytes]] = []
    for item in records:
        batch.append(item)
        if len(batch) >= size:
            yield batch, verifier.directory, verifier.check_all, verifier.origin
            batch = []
    if batch:
        yield batch, verifier.directory, verifier.check_all, verifier.origin


def verify_log(
    records: Iterable[tuple[int, bytes]],
    checkpoints: Iterable[CheckpointInput],
    trust: TrustFile,
    *,
    signatures: str = "all",
    known_checkpoint: str | None = None,
    mapper: FactMapper | UnitMapper | None = None,
    watch: Collection[str] = (),
    chunk_size: int = CHUNK_SIZE,
    planner: WorkPlanner | None = None,
) -> VerificationReport:
    """Verify a whole log; return the report or raise :class:`VerificationError`.

    The error's ``report`` holds the counts of the checks performed before
    the failure and the failure itself. ``known_checkpoint`` is a signed note
    the caller saw earlier: the log must contain its tree and its source must
    not offer only older checkpoints. With a witness policy (``trust.policy``)
    only checkpoints meeting its quorum anchor records, and the log fails
    ``checkpoint-quorum`` before any record is read when checkpoints come but
    none meets it. With ``planner``, ``records`` is ignored:
    the planner's units go to ``mapper`` (which must then be given).
    """
    verifier = LogVerifier(trust, signatures=signatures, watch=watch)
    with reporting(verifier.report):
        if planner is not None:
            if mapper is None:
                raise ValueError("a planner needs a mapper")
            results = mapper(planner(verifier))
        else:
            results = (mapper or serial_mapper)(record_chunks(records, verifier, chunk_size))
        try:  # units are planned as results are taken: a pool mapper starts its workers meanwhile
            known = None
            if known_checkpoint is not None:
                verifiers = [NoteVerifier.from_string(v) for v in trust.note_keys]
                known = open_checkpoint(known_checkpoint, verifiers, trust.origin, verifier.checks)
            verifier.add_checkpoints(checkpoints, known)
            verifier.require_quorum()
            for facts in results:
                verifier.feed_batch(facts)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
        return verifier.finish()
