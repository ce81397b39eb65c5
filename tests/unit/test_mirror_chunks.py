"""The mirror's in-order step: chunks checked up to the newest checkpoint, records sorted per checkpoint."""

from __future__ import annotations

import orjson
import pytest

from certlife.contracts.verification import Check, LogVerifier, VerificationError
from certlife.projections.mirror_rows import MirrorRow, RowBatch, mirror_row
from certlife.services.partner.mirror_chunks import Anchored, ReadyChunk, anchor
from certlife.services.partner.mirror_work import prepare_chunk
from tests.unit.logbuilder import LogBuilder


def _log() -> LogBuilder:
    """31 records (a key rotation at 12), checkpoints at 10, 12, 25 and 31 (the last one kept back)."""
    b = LogBuilder()
    for i in range(10):
        b.add(f"C-{i:04d}", "issued", "valid")
    b.checkpoint()
    b.add("C-0001", "suspended", "suspended", reason="audit")
    b.add("C-0002", "revoked", "revoked", reason="fraud")
    b.checkpoint()
    b.rotate("k1")
    for i in range(10, 22):
        b.add(f"C-{i:04d}", "issued", "valid")
    b.checkpoint()
    for i in range(22, 28):
        b.add(f"C-{i:04d}", "issued", "valid")
    b.checkpoint()
    return b


def _mirror(
    b: LogBuilder, messages: list[bytes], checkpoints: int, size: int
) -> tuple[LogVerifier, list[tuple[int, Anchored]], Anchored, int]:
    """Check ``messages`` in chunks of ``size`` as the mirror does; (verifier, batches, waiting, unchecked)."""
    verifier = LogVerifier(b.trust())
    verifier.extend_checkpoints([(None, note) for _, note in b.checkpoints[:checkpoints]])
    chunks = []
    for first in range(0, len(messages), size):
        raws = messages[first : first + size]
        for raw in raws:
            verifier.announce(raw)
        work = (first, raws, verifier.directory, verifier.check_all, verifier.origin)
        chunks.append(ReadyChunk(raws, prepare_chunk(work)))
    batches: list[tuple[int, Anchored]] = []
    waiting = Anchored()
    for chunk in chunks:
        while chunk.left and (pending := verifier.pending_checkpoints()):
            start, before, roots = chunk.at, verifier.size, verifier.checks[Check.CHECKPOINT_ROOT]
            chunk.check(verifier, pending[-1].size)
            verified = pending[: verifier.checks[Check.CHECKPOINT_ROOT] - roots]
            done, waiting = anchor(chunk, start, before, verifier.size, verified, waiting, 0)
            batches += [(cp.size, batch) for cp, batch in done]
    return verifier, batches, waiting, sum(c.left for c in chunks)


@pytest.mark.parametrize("size", [1, 3, 7, 100])
def test_each_checkpoint_gets_exactly_its_records(size: int) -> None:
    b = _log()
    verifier, batches, waiting, unchecked = _mirror(b, b.records, 3, size)
    assert [cp for cp, _ in batches] == [10, 12, 25]
    assert [[r[0] for r in batch.rows] for _, batch in batches] == [
        list(range(10)),
        [10, 11],
        list(range(13, 25)),  # 12 is the rotation: no row, but counted
    ]
    assert [batch.count for _, batch in batches] == [10, 2, 13]
    # Each row holds the values mirror_row maps the parsed record to (a plain record's certificate
    # text is cut from its bytes when the batch is written).
    for _, batch in batches:
        written = RowBatch(batch.rows, batch.raws).columns()
        for at, raw in enumerate(batch.raws):
            expected = mirror_row(orjson.loads(raw))
            got = MirrorRow(*(column[at] for column in written))
            assert got._replace(certificate="") == expected._replace(certificate="")
            assert orjson.loads(got.certificate) == orjson.loads(expected.certificate)
    assert [raw for _, batch in batches for raw in batch.raws] == [
        b.records[i] for i in [*range(12), *range(13, 25)]
    ]
    # Past the newest checkpoint nothing is checked: those records wait.
    assert verifier.size == 25 and waiting.accepted == 0 and unchecked == len(b.records) - 25


def test_exact_repeats_are_accepted_once_and_all_checkpoints_apply() -> None:
    b = _log()
    messages = [*b.records[:5], b.records[3], *b.records[5:]]
    _, batches, waiting, unchecked = _mirror(b, messages, 4, 4)
    assert [cp for cp, _ in batches] == [10, 12, 25, 31]
    assert sum(batch.accepted for _, batch in batches) == 31
    assert [r[0] for r in batches[0][1].rows] == list(range(10))
    assert waiting.accepted == 0 and unchecked == 0


def test_records_applied_by_an_earlier_run_are_counted_not_applied() -> None:
    b = _log()
    verifier = LogVerifier(b.trust())
    verifier.extend_checkpoints([(None, note) for _, note in b.checkpoints])
    for raw in b.records:
        verifier.announce(raw)
    chunk = ReadyChunk(b.records, prepare_chunk((0, b.records, verifier.directory, True, verifier.origin)))
    pending = verifier.pending_checkpoints()
    chunk.check(verifier, 31)
    done, _ = anchor(chunk, 0, 0, verifier.size, pending, Anchored(), 12)
    assert [(cp.size, batch.accepted, batch.count) for cp, batch in done] == [
        (10, 10, 0),
        (12, 2, 0),
        (25, 13, 13),
        (31, 6, 6),
    ]


def test_a_violation_keeps_what_was_anchored_before_it() -> None:
    b = _log()
    bad = bytearray(b.records[18])
    at = bad.index(b'"sig":"') + 8
    bad[at] = ord("A") if bad[at] != ord("A") else ord("B")
    messages = [*b.records[:18], bytes(bad), *b.records[19:]]
    verifier = LogVerifier(b.trust())
    verifier.extend_checkpoints([(None, note) for _, note in b.checkpoints])
    for raw in messages:
        verifier.announce(raw)
    chunk = ReadyChunk(messages, prepare_chunk((0, messages, verifier.directory, True, verifier.origin)))
    pending = verifier.pending_checkpoints()
    with pytest.raises(VerificationError) as failed:
        chunk.check(verifier, pending[-1].size)
    assert failed.value.failure.code == "bad-signature" and failed.value.failure.index == 18
    verified = pending[: verifier.checks[Check.CHECKPOINT_ROOT]]
    done, waiting = anchor(chunk, 0, 0, verifier.size, verified, Anchored(), 0)
    assert [cp.size for cp, _ in done] == [10, 12]
    assert waiting.accepted == 18 - 12 and max(r[0] for r in waiting.rows) == 17
