"""Verify a whole log and keep, on the way, what an answer about one certificate needs.

``certverify status --at`` and ``certverify credential`` verify the log like
``certverify log`` (every source, every option) and then answer from records
they kept while it streamed by: the certificate's own records, the indexes of
all ``issued`` records (its list index is how many came before its own:
contracts/credentials/listindex.py's rule) and the ``statuslist`` records. Records
are matched on their canonical bytes (a substring test, cheap), then parsed
only once the log verified; the verified leaf hashes (read through the
verifier's planner hook) say which bytes are the log's and give inclusion proofs.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from certlife.contracts.trust import TrustFile
from certlife.contracts.verification import VerificationReport, verify_log
from certlife.contracts.verification.engine import record_chunks, serial_mapper
from certlife.contracts.verification.facts import BatchChunk
from certlife.contracts.verification.log import LogVerifier
from certlife.services.partner.limits import RecordLimit
from certlife.services.partner.policy_option import read_trust
from certlife.services.partner.sources import open_source, with_progress

#: Canonical records write each member exactly so; inside a string a quote is escaped.
_ISSUED = b'"event":"issued"'
_STATUSLIST = b'"kind":"statuslist"'
_INDEX = re.compile(rb'"index":(\d+)')


@dataclass
class Kept:
    """What was kept of a verified log for certificate ``number``."""

    number: str
    #: Every input record naming the certificate (duplicates included; parse and check before use).
    records: list[bytes] = field(default_factory=list)
    #: Log indexes of the ``issued`` certificate records.
    issued: set[int] = field(default_factory=set)
    #: Every ``statuslist`` record's bytes.
    lists: list[bytes] = field(default_factory=list)
    #: The verified log's leaf hashes, 32 bytes each, in index order.
    leaves: bytes = b""

    def issued_before(self, index: int) -> int:
        """How many ``issued`` records precede log index ``index``."""
        return sum(1 for i in self.issued if i < index)


def verify_keeping(
    args: argparse.Namespace, spec: str, number: str, trust: TrustFile | None = None
) -> tuple[VerificationReport, Kept]:
    """Verify the log at ``spec`` (``--trust``, ``--signatures``, ``--jobs``, ``--known-checkpoint``).

    ``trust`` replaces the ``--trust`` file when given. Raises ``VerificationError``
    when the log fails, ``SourceError`` when it cannot be read.
    """
    from certlife.contracts.canonical import canonical_bytes
    from certlife.services.partner.commands import known_checkpoint_text
    from certlife.services.partner.parallel import default_jobs, pool_mapper

    trust = trust or read_trust(args)
    known = known_checkpoint_text(args.known_checkpoint)
    source = open_source(spec)
    limit = RecordLimit()
    needle = b'"number":' + canonical_bytes(number)
    kept = Kept(number)
    verifiers: list[LogVerifier] = []

    def keep(items: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
        for item in items:
            raw = item[1]
            if needle in raw:
                kept.records.append(raw)
            if _ISSUED in raw and (found := _INDEX.search(raw)) is not None:
                kept.issued.add(int(found[1]))
            elif _STATUSLIST in raw:
                kept.lists.append(raw)
            yield item

    def planner(verifier: LogVerifier) -> Iterator[BatchChunk]:
        verifiers.append(verifier)
        return record_chunks(limit.records(keep(with_progress(source))), verifier)

    jobs = args.jobs or default_jobs()
    mapper = serial_mapper if jobs <= 1 or source.small else pool_mapper(jobs)
    report = limit.verify(
        lambda: verify_log(
            (),
            source.checkpoints,
            trust,
            signatures=args.signatures,
            known_checkpoint=known,
            mapper=mapper,
            watch=(number,),
            planner=planner,
        )
    )
    kept.leaves = verifiers[0].snapshot().leaves
    return report, kept
