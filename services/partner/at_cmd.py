"""``certverify status NUMBER SOURCE --at INSTANT``: was the certificate valid at that instant?

The whole log is verified as for ``certverify status`` (same sources, same
options); while it streams by, the records naming the certificate are kept
(their bytes only: a substring test, then parsed once the log verified), and
the verified leaf hashes give each of them an inclusion proof in the newest
checkpoint. The rule and the answer are
:mod:`certlife.contracts.verification.at_instant`'s (LOG.md §11.5.1).

``--at`` with ``--database`` is refused (exit 2): the mirror keeps neither the
records' bytes nor the validity period each record gave, so it cannot show
the answer's evidence.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from certlife.contracts.verification import VerificationError, VerificationReport, verify_log
from certlife.contracts.verification.at_instant import chain_evidence, chain_of, decide_at, parse_instant
from certlife.contracts.verification.engine import CHUNK_SIZE, serial_mapper
from certlife.contracts.verification.facts import BatchChunk
from certlife.contracts.verification.log import LogVerifier
from certlife.contracts.verification.status import CheckpointRef
from certlife.services.cli.base import CliError
from certlife.services.partner.limits import RecordLimit
from certlife.services.partner.policy_option import read_trust
from certlife.services.partner.sources import open_source, with_progress


def instant_argument(text: str) -> datetime:
    """``--at``: an RFC 3339 instant, or a usage error (one line, exit 2)."""
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise CliError(f"--at: {exc}") from None


def _chunks(records: Iterable[tuple[int, bytes]], verifier: LogVerifier) -> Iterator[BatchChunk]:
    """Chunks of records for the fact mapper, each with the verifier's key directory as it is then."""
    batch: list[tuple[int, bytes]] = []
    for item in records:
        batch.append(item)
        if len(batch) >= CHUNK_SIZE:
            yield batch, verifier.directory, verifier.check_all, verifier.origin
            batch = []
    if batch:
        yield batch, verifier.directory, verifier.check_all, verifier.origin


def verify_keeping(args: argparse.Namespace, number: str) -> tuple[VerificationReport, list[bytes], bytes]:
    """Verify ``args.source``; return the report, the records naming ``number`` and the leaf hashes."""
    from certlife.contracts.canonical import canonical_bytes
    from certlife.services.partner.commands import _known_checkpoint
    from certlife.services.partner.parallel import default_jobs, pool_mapper

    trust = read_trust(args)
    known = _known_checkpoint(args.known_checkpoint)
    source = open_source(args.source)
    limit = RecordLimit()
    needle = b'"number":' + canonical_bytes(number)  # records are canonical: the member reads exactly so
    found: list[bytes] = []
    verifiers: list[LogVerifier] = []

    def keep(items: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
        for item in items:
            if needle in item[1]:
                found.append(item[1])
            yield item

    def planner(verifier: LogVerifier) -> Iterator[BatchChunk]:
        verifiers.append(verifier)
        return _chunks(limit.records(keep(with_progress(source))), verifier)

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
    return report, found, verifiers[0].snapshot().leaves


def run_status_at(args: argparse.Namespace) -> dict[str, Any]:
    """The report of ``certverify status NUMBER SOURCE --at INSTANT`` (raises VerificationError when no status)."""
    if args.database is not None:
        raise CliError(
            "--at needs a SOURCE: the mirror (--database) keeps no record bytes to show the answer by"
        )
    at = instant_argument(args.at)
    number = args.number
    report, found, leaves = verify_keeping(args, number)
    chain = chain_of(number, found, leaves)
    watched = report.watched.get(number)
    if (watched.seq if watched is not None else 0) != len(chain):  # pragma: no cover - a bug, not input
        raise RuntimeError(f"kept {len(chain)} records of {number}, the verified chain has {watched}")
    latest = report.latest_checkpoint
    result = decide_at(
        number,
        chain,
        at,
        None if latest is None else CheckpointRef(latest.size, latest.time, latest.root),
        now=datetime.now(UTC),
        max_age=args.max_age,
        signature_checked=report.signatures == "all",
        searched=f" among {report.records} verified records",
    )
    out = {**report.to_json(), "answer": result.to_json(), "evidence": chain_evidence(chain, leaves, latest)}
    failure = result.answer.failure
    if failure is not None:
        error = VerificationError(failure)
        error.report = {**out, "ok": False, "failure": failure.to_json()}
        raise error
    return out
