"""The status of one certificate, and when it is ``unknown`` or ``unavailable``: the one answer.

Every place that answers "what is the status of certificate N?" — ``certverify
status`` over a verified log, ``certverify status --database`` over a partner
mirror, ``certctl status`` over the internal read model — builds the same
:class:`StatusAnswer` with the same rule, :func:`decide_status`. Each source
only says what it holds: the certificate's newest record (:class:`LatestRecord`)
and its newest checkpoint (:class:`CheckpointRef`).

The answer rests on the certificate's newest record and the newest
checkpoint. It is ``unknown`` — never a status — when the certificate is not
in the source, when its newest record was not checked (past the newest
checkpoint with per-record signatures skipped), or when ``max_age`` is given
and the newest checkpoint is older (checkpoint time: ``recordedAt`` of its
last record). It is ``unavailable`` when the source parked its newest record
(``certlife.projections.parking``). A ``valid`` or ``suspended`` status past
the end of the validity period (when the source knows it) answers ``expired``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from certlife.contracts.verification.facts import RecordFacts
from certlife.contracts.verification.failures import Failure, Where, fail
from certlife.contracts.verification.report import VerificationReport

UNKNOWN = "unknown"
#: The answer for a certificate whose newest record the source parked (could not apply).
UNAVAILABLE = "unavailable"
EXPIRED = "expired"
#: Answers that are not a certificate status: never shown as verified; every CLI exits 1 on them.
NOT_A_STATUS = frozenset({UNKNOWN, UNAVAILABLE})
#: Statuses that end when the validity period ends.
_LIVE = frozenset({"valid", "suspended"})
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
class LatestRecord:
    """A certificate's newest record as a source holds it: what an answer rests on.

    ``status`` is :data:`UNAVAILABLE` when the source parked that record (then
    only ``index`` is known). ``valid_until`` is the end of the validity
    period when the source keeps it (the read model), else None.
    """

    index: int
    status: str
    seq: int | None = None
    event: str | None = None
    effective_at: str | None = None
    recorded_at: str | None = None
    valid_until: datetime | None = None

    @classmethod
    def of_facts(cls, facts: RecordFacts) -> LatestRecord:
        """The newest record of a certificate from the facts a log verification kept."""
        return cls(
            facts.log_index,
            str(facts.status),
            facts.seq,
            facts.event,
            facts.effective_at,
            facts.recorded_at or None,
        )


@dataclass(frozen=True)
class CheckpointRef:
    """A checkpoint an answer refers to: its size, and its time and root when the source knows them."""

    size: int
    time: str | None = None
    root: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"size", "root", "time"}`` (``root`` base64, null when unknown)."""
        root = None if self.root is None else base64.b64encode(self.root).decode()
        return {"size": self.size, "root": root, "time": self.time}


@dataclass(frozen=True)
class StatusAnswer:
    """A certificate's status — or ``unknown``/``unavailable`` and why — and what it rests on.

    ``record`` is the newest record (None when the certificate was not found);
    ``checkpoint`` the checkpoint that covers it (``anchored``), or the newest
    one when nothing was found, else None. ``failure`` says why the answer is
    not a status (set exactly when ``status`` is in :data:`NOT_A_STATUS`).
    ``at`` is when the answer was given; ages are taken from it.
    """

    number: str
    status: str
    at: datetime
    record: LatestRecord | None = None
    checkpoint: CheckpointRef | None = None
    anchored: bool = False
    failure: Failure | None = None
    #: The parked record an ``unavailable`` answer rests on (index, certificate, code, message).
    parked: dict[str, Any] | None = None
    note: str | None = None
    #: When the source last changed (the read model's position), if it says.
    source_updated_at: datetime | None = None

    @property
    def index(self) -> int | None:
        """Log index of the record the answer rests on."""
        return None if self.record is None else self.record.index

    @property
    def recorded_at(self) -> str | None:
        """``recordedAt`` of the record the answer rests on."""
        return None if self.record is None else self.record.recorded_at

    @property
    def checkpoint_size(self) -> int | None:
        """Size of the checkpoint the answer rests on."""
        return None if self.checkpoint is None else self.checkpoint.size

    @property
    def age_seconds(self) -> float | None:
        """Seconds from the record's ``recordedAt`` to the answer."""
        recorded = self.recorded_at
        return None if not recorded else (self.at - parse_time(recorded)).total_seconds()

    def to_json(self) -> dict[str, Any]:
        """Return the ``answer`` member of a ``certverify status`` report."""
        r = self.record
        out: dict[str, Any] = {
            "number": self.number,
            "status": self.status,
            "index": self.index,
            "seq": None if r is None else r.seq,
            "event": None if r is None else r.event,
            "effectiveAt": None if r is None else r.effective_at,
            "recordedAt": self.recorded_at,
            "anchored": self.anchored,
            "checkpoint": None if self.checkpoint is None else self.checkpoint.to_json(),
            "reason": None if self.failure is None else self.failure.message,
            "parked": self.parked,
        }
        if self.note:
            out["note"] = self.note
        return out


def decide_status(
    number: str,
    record: LatestRecord | None,
    newest: CheckpointRef | None,
    *,
    now: datetime,
    max_age: timedelta | None = None,
    signature_checked: bool = True,
    parked: Mapping[str, Any] | None = None,
    searched: str = "",
    source_updated_at: datetime | None = None,
) -> StatusAnswer:
    """The answer for ``number`` from its newest ``record`` and the source's ``newest`` checkpoint.

    ``signature_checked`` is False when records past the newest checkpoint
    were not signature-checked. ``parked`` details the parked record of an
    ``unavailable`` record, when known. ``searched`` ends the not-found
    message (e.g. `` among 12 verified records``).
    """
    if record is None:
        why = fail("certificate-not-found", f"no record of it{searched}", certificate=number)
        return StatusAnswer(
            number, UNKNOWN, now, None, newest, False, why.failure, source_updated_at=source_updated_at
        )
    anchored = newest is not None and record.index < newest.size
    rests_on = newest if anchored else None
    base = StatusAnswer(
        number, record.status, now, record, rests_on, anchored, source_updated_at=source_updated_at
    )
    where: Where = {"index": record.index, "certificate": number}
    if newest is not None:
        where["checkpoint"] = newest.size
    if record.status == UNAVAILABLE:
        detail = "" if parked is None else f": {parked['code']}: {parked['message']}"
        note = f"record {record.index} parked{detail}"
        why = fail("record-parked", f"{note} (not applied)", **where)
        return replace(base, failure=why.failure, parked=None if parked is None else dict(parked), note=note)
    failure = None
    if not anchored and not signature_checked:
        message = "its latest record is past the newest checkpoint and its signature was not checked"
        failure = fail("not-anchored", message, index=record.index, certificate=number).failure
    elif max_age is not None:
        failure = _stale(newest, now, max_age, where)
    if failure is not None:
        return replace(base, status=UNKNOWN, failure=failure)
    if record.status in _LIVE and record.valid_until is not None and record.valid_until <= now:
        return replace(base, status=EXPIRED, note="validity period ended; the expiry is not recorded yet")
    return base


def _stale(newest: CheckpointRef | None, now: datetime, max_age: timedelta, where: Where) -> Failure | None:
    """The ``stale-checkpoint`` failure when the newest checkpoint is undated or older than ``max_age``."""
    if newest is None or newest.time is None:
        return fail("stale-checkpoint", "no dated checkpoint to date the answer by", **where).failure
    if now - parse_time(newest.time) <= max_age:
        return None
    message = f"newest checkpoint (size {newest.size}) dates from {newest.time}, older than {_span(max_age)}"
    return fail("stale-checkpoint", message, **where).failure


def certificate_status(
    report: VerificationReport, number: str, *, now: datetime, max_age: timedelta | None = None
) -> StatusAnswer:
    """Answer the status of certificate ``number`` from a successful log ``report``.

    ``report`` must come from ``verify_log(..., watch=[number])``.
    """
    facts = report.watched.get(number)
    latest = report.latest_checkpoint
    return decide_status(
        number,
        None if facts is None else LatestRecord.of_facts(facts),
        None if latest is None else CheckpointRef(latest.size, latest.time, latest.root),
        now=now,
        max_age=max_age,
        signature_checked=report.signatures == "all",
        searched=f" among {report.records} verified records",
    )
