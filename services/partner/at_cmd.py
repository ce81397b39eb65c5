"""``certverify status NUMBER SOURCE --at INSTANT``: was the certificate valid at that instant?

The whole log is verified as for ``certverify status`` (same sources, same
options); while it streams by, the records naming the certificate are kept
(:mod:`.log_keeper`), and the verified leaf hashes give each of them an
inclusion proof in the newest checkpoint. The rule and the answer are
:mod:`certlife.contracts.verification.at_instant`'s (LOG.md §11.5.1).

``--at`` with ``--database`` is refused (exit 2): the mirror keeps neither the
records' bytes nor the validity period each record gave, so it cannot show
the answer's evidence.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from certlife.contracts.verification import VerificationError
from certlife.contracts.verification.at_instant import chain_of, decide_at, parse_instant
from certlife.contracts.verification.evidence import chain_evidence
from certlife.contracts.verification.status import CheckpointRef
from certlife.services.cli.base import CliError
from certlife.services.partner.log_keeper import verify_keeping


def instant_argument(text: str) -> datetime:
    """``--at``: an RFC 3339 instant, or a usage error (one line, exit 2)."""
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise CliError(f"--at: {exc}") from None


def run_status_at(args: argparse.Namespace) -> dict[str, Any]:
    """The report of ``certverify status NUMBER SOURCE --at INSTANT`` (raises VerificationError when no status)."""
    if args.database is not None:
        raise CliError(
            "--at needs a SOURCE: the mirror (--database) keeps no record bytes to show the answer by"
        )
    at = instant_argument(args.at)
    number = args.number
    report, kept = verify_keeping(args, args.source, number)
    leaves = kept.leaves
    chain = chain_of(number, kept.records, leaves)
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
