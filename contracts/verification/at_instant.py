"""Status at an instant: "was certificate N valid at T?", from its chain of records in a verified log.

The rule (LOG.md §11.5.1, the same as the status API's ``?at=``): of the
certificate's records, the newest (highest log index) whose ``effectiveAt``
is at or before T decides; its status is the answer, except that ``valid``
or ``suspended`` at or past that record's ``validUntil`` answers
``expired``. Before the first record takes effect there is no status:
``unknown`` with failure ``not-yet-issued``. Everything else about the
answer (``unknown`` for an unanchored, unchecked record; ``stale-checkpoint``
with a maximum age, measured from now, not from T) is :func:`decide_status`'s.

The evidence is the certificate's records (exact bytes) with their RFC 9162
inclusion proofs in the newest verified checkpoint (records past it have
none: they are unanchored): :mod:`certlife.contracts.verification.evidence`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import leaf_hash
from certlife.contracts.records import parse_record
from certlife.contracts.verification.failures import FAILURE_CODES, Failure
from certlife.contracts.verification.status import (
    EXPIRED,
    UNKNOWN,
    CheckpointRef,
    LatestRecord,
    StatusAnswer,
    decide_status,
    parse_time,
)

#: The failure code of an instant before the certificate's first record takes effect.
NOT_YET_ISSUED = "not-yet-issued"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?[+-]\d{2}:\d{2}")


def parse_instant(text: str) -> datetime:
    """An RFC 3339 date-time (``Z`` or a numeric offset; ``T``/``Z`` in either case) in UTC.

    Raises ValueError for anything else (a date alone, no offset, an impossible date).
    """
    upper = text.upper()
    try:
        return parse_time(upper)
    except ValueError:
        pass
    if _OFFSET.fullmatch(upper) is None:
        raise ValueError(f"not an RFC 3339 instant: {text!r} (example: 2026-03-01T00:00:00Z)")
    head, _, fraction = upper[:-6].partition(".")
    try:
        value = datetime.fromisoformat(head + upper[-6:]) + timedelta(
            microseconds=int(fraction[:6].ljust(6, "0"))
        )
    except ValueError:
        raise ValueError(f"not an RFC 3339 instant: {text!r} (example: 2026-03-01T00:00:00Z)") from None
    return value.astimezone(UTC)


def validity_instant(value: Any) -> datetime | None:
    """``validFrom``/``validUntil`` as an instant: a timestamp, or a date read as midnight UTC."""
    if not isinstance(value, str):
        return None
    try:
        if _DATE.fullmatch(value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return parse_time(value)
    except ValueError:
        return None


def iso(value: datetime) -> str:
    """``value`` as RFC 3339 UTC with ``Z`` (microseconds only when there are any)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ChainRecord:
    """One record of a certificate's chain: its bytes and what the answer at an instant needs."""

    index: int
    raw: bytes
    seq: int
    event: str
    status: str
    effective_at: str
    recorded_at: str
    valid_until: datetime | None

    @classmethod
    def parse(cls, index: int, raw: bytes) -> ChainRecord:
        """Parse a verified certificate record (raises ContractError when it is not one)."""
        record = parse_record(raw)
        cert = record.data["certificate"]
        return cls(
            index,
            raw,
            record.seq or 0,
            str(record.event),
            str(record.status),
            str(record.effective_at),
            record.recorded_at,
            validity_instant(cert.get("validUntil")),
        )

    @property
    def effective(self) -> datetime:
        """``effectiveAt`` as an instant."""
        return parse_time(self.effective_at)

    def latest(self) -> LatestRecord:
        """This record as the record an answer rests on."""
        return LatestRecord(
            self.index,
            self.status,
            self.seq,
            self.event,
            self.effective_at,
            self.recorded_at,
            self.valid_until,
        )

    def summary(self) -> dict[str, Any]:
        """``{"index", "seq", "event", "status", "effectiveAt", "recordedAt", "validUntil"}``."""
        return {
            "index": self.index,
            "seq": self.seq,
            "event": self.event,
            "status": self.status,
            "effectiveAt": self.effective_at,
            "recordedAt": self.recorded_at,
            "validUntil": None if self.valid_until is None else iso(self.valid_until),
        }


def chain_of(number: str, found: Iterable[bytes], leaves: bytes) -> list[ChainRecord]:
    """The records of ``number`` among the records ``found``, in index order, checked against ``leaves``.

    ``leaves`` are the verified log's leaf hashes (32 bytes each): a record
    whose bytes are not the verified leaf at its index is left out (it is
    not the log's), as is anything that is not a record of ``number``.
    """
    chain: dict[int, ChainRecord] = {}
    for raw in found:
        try:
            record = parse_record(raw)
        except ContractError:
            continue
        index = record.index
        if record.kind != "certificate" or record.number != number or index in chain:
            continue
        if 0 <= index < len(leaves) // 32 and leaves[32 * index : 32 * index + 32] == leaf_hash(raw):
            chain[index] = ChainRecord.parse(index, raw)
    return [chain[i] for i in sorted(chain)]


@dataclass(frozen=True)
class InstantAnswer:
    """The answer at ``at``, the record that decides it, the next change, and the whole chain."""

    answer: StatusAnswer
    at: datetime
    chain: tuple[ChainRecord, ...]
    deciding: ChainRecord | None
    #: The first later record to take effect after ``at`` (when the answer stopped holding).
    following: ChainRecord | None

    def to_json(self) -> dict[str, Any]:
        """The ``answer`` member of ``certverify status --at``: the status answer plus ``at`` and the records."""
        out = self.answer.to_json()
        out["at"] = iso(self.at)
        out["validUntil"] = (
            None
            if self.deciding is None or self.deciding.valid_until is None
            else iso(self.deciding.valid_until)
        )
        out["decidingRecord"] = None if self.deciding is None else self.deciding.summary()
        out["nextRecord"] = None if self.following is None else self.following.summary()
        return out


def decide_at(
    number: str,
    chain: Sequence[ChainRecord],
    at: datetime,
    newest: CheckpointRef | None,
    *,
    now: datetime,
    max_age: timedelta | None = None,
    signature_checked: bool = True,
    searched: str = "",
) -> InstantAnswer:
    """The answer for ``number`` at ``at`` from its ``chain`` (index order) and the newest checkpoint."""
    in_force = [r for r in chain if r.effective <= at]
    deciding = max(in_force, key=lambda r: r.index) if in_force else None
    later = [r for r in chain if deciding is None or r.index > deciding.index]
    following = min(later, key=lambda r: (r.effective, r.index)) if later else None
    if deciding is None:
        answer = decide_status(number, None, newest, now=at, searched=searched)
        if chain:
            first = min(chain, key=lambda r: (r.effective, r.index))
            message = (
                f"no record of it is in effect at {iso(at)}: its first record (index {first.index}, "
                f"{first.event}) takes effect {first.effective_at}"
            )
            failure = Failure(
                NOT_YET_ISSUED, FAILURE_CODES[NOT_YET_ISSUED].value, message, first.index, number
            )
            answer = replace(answer, failure=failure)
        return InstantAnswer(answer, at, tuple(chain), None, following)
    answer = decide_status(number, deciding.latest(), newest, now=at, signature_checked=signature_checked)
    if max_age is not None and answer.failure is None:
        fresh = decide_status(number, deciding.latest(), newest, now=now, max_age=max_age)
        if fresh.failure is not None:
            answer = replace(answer, status=UNKNOWN, failure=fresh.failure, note=None)
    if answer.status == EXPIRED:
        answer = replace(answer, note=f"validity period ended {iso(deciding.valid_until or at)}")
    return InstantAnswer(answer, at, tuple(chain), deciding, following)
