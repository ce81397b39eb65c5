"""The status of one certificate from a verified log, and when it is ``unknown``.

The answer rests on the certificate's latest record and the newest verified
checkpoint. It is ``unknown`` — never a status — when the certificate is not
in the log, when its latest record was not checked (past the newest checkpoint
with per-record signatures skipped), or when ``max_age`` is given and the
newest checkpoint is older (checkpoint time: ``recordedAt`` of its last record).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from certlife.contracts.verification.checkpoints import VerifiedCheckpoint
from certlife.contracts.verification.facts import RecordFacts
from certlife.contracts.verification.failures import Failure, Where, fail
from certlife.contracts.verification.report import VerificationReport, checkpoint_json

UNKNOWN = "unknown"
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 UTC timestamp with ``Z`` (fractions beyond microseconds dropped)."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 UTC timestamp: {text!r}")
    fraction = (match[2] or "").ljust(6, "0")[:6]
    return datetime.fromisoformat(f"{match[1]}.{fraction}").replace(tzinfo=UTC)


def _span(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    parts = [
        (seconds // 86400, "d"),
        (seconds // 3600 % 24, "h"),
        (seconds // 60 % 60, "m"),
        (seconds % 60, "s"),
    ]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


@dataclass(frozen=True)
class StatusAnswer:
    """A certificate's status and what it rests on; ``failure`` says why it is unknown."""

    number: str
    status: str
    facts: RecordFacts | None
    checkpoint: VerifiedCheckpoint | None
    anchored: bool
    failure: Failure | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the ``certificate`` member of a ``certverify status`` report."""
        f = self.facts
        return {
            "number": self.number,
            "status": self.status,
            "index": None if f is None else f.log_index,
            "seq": None if f is None else f.seq,
            "event": None if f is None else f.event,
            "effectiveAt": None if f is None else f.effective_at,
            "recordedAt": None if f is None else f.recorded_at,
            "anchored": self.anchored,
            "checkpoint": None if self.checkpoint is None else checkpoint_json(self.checkpoint),
            "reason": None if self.failure is None else self.failure.message,
        }


def certificate_status(
    report: VerificationReport, number: str, *, now: datetime, max_age: timedelta | None = None
) -> StatusAnswer:
    """Answer the status of certificate ``number`` from a successful log ``report``.

    ``report`` must come from ``verify_log(..., watch=[number])``.
    """
    facts = report.watched.get(number)
    latest = report.latest_checkpoint
    if facts is None:
        why = fail("certificate-not-found", f"no record of it among {report.records} verified records")
        return StatusAnswer(number, UNKNOWN, None, latest, False, why.failure)
    anchored = latest is not None and facts.log_index < latest.size
    where: Where = {"index": facts.log_index, "certificate": number}
    failure = None
    if not anchored and report.signatures != "all":
        failure = fail(
            "not-anchored",
            "its latest record is past the newest checkpoint and its signature was not checked",
            **where,
        ).failure
    elif max_age is not None:
        if latest is None or latest.time is None:
            failure = fail("stale-checkpoint", "no checkpoint to date the answer by", **where).failure
        elif now - parse_time(latest.time) > max_age:
            failure = fail(
                "stale-checkpoint",
                f"newest checkpoint (size {latest.size}) dates from {latest.time}, older than {_span(max_age)}",
                index=facts.log_index,
                certificate=number,
                checkpoint=latest.size,
            ).failure
    status = UNKNOWN if failure is not None else str(facts.status)
    return StatusAnswer(number, status, facts, latest if anchored else None, anchored, failure)
