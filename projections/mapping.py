"""Pure mapping from log records to read-model row changes (no IO).

Two row shapes come out of a batch of records, in index order:

* ``history_rows``: one row per certificate record (append-only, keyed by index);
* ``fold_current``: one row per certificate, the newest state in the batch.

A certificate's suspension (``suspended_at``/``suspension_reason``) is known
only from its ``suspended`` record. When a later record in the batch keeps the
status ``suspended`` (an amendment, a renewal) the fold carries the values
forward; when the suspension happened in an earlier batch the row carries
``None`` and the writer keeps the stored values (see ``certlife.projections.certificates``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from certlife.contracts.records import Record
from certlife.domain.certificate import Certificate

SUSPENDED = "suspended"


def instant(text: str) -> datetime:
    """An RFC 3339 timestamp (or a date, read as midnight UTC) as an aware datetime."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def checkpoint_size(note: bytes) -> int:
    """The tree size of a signed checkpoint note (its second line)."""
    lines = note.split(b"\n", 2)
    if len(lines) < 3 or not lines[1].isdigit():
        raise ValueError("not a checkpoint note: no tree size on line 2")
    return int(lines[1])


@dataclass(frozen=True)
class CurrentRow:
    """The newest state of one certificate (a row of ``certificates``)."""

    number: str
    certificate_id: UUID
    scheme: str
    holder: str
    manufacturer: str
    product: str
    scope: str
    factories: list[str]
    models: list[str]
    standards: list[str]
    valid_from: datetime
    valid_until: datetime
    status: str
    event: str
    seq: int
    reason: str | None
    effective_at: datetime
    recorded_at: datetime
    log_index: int
    suspended_at: datetime | None
    suspension_reason: str | None
    certificate: str

    def as_tuple(self) -> tuple[Any, ...]:
        """Values in ``CURRENT_COLUMNS`` order."""
        return tuple(getattr(self, name) for name in CURRENT_COLUMNS)


@dataclass(frozen=True)
class HistoryRow:
    """One certificate record (a row of ``certificate_history``)."""

    log_index: int
    number: str
    certificate_id: UUID
    seq: int
    event: str
    status: str
    reason: str | None
    effective_at: datetime
    recorded_at: datetime
    certificate: str

    def as_tuple(self) -> tuple[Any, ...]:
        """Values in ``HISTORY_COLUMNS`` order."""
        return tuple(getattr(self, name) for name in HISTORY_COLUMNS)


CURRENT_COLUMNS = tuple(CurrentRow.__dataclass_fields__)
HISTORY_COLUMNS = tuple(HistoryRow.__dataclass_fields__)


def _certificate_json(cert: dict[str, Any]) -> str:
    return json.dumps(cert, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def history_row(record: Record, issuer: str) -> HistoryRow:
    """The history row of one certificate record."""
    cert = record.certificate
    return HistoryRow(
        log_index=record.index,
        number=cert["number"],
        certificate_id=Certificate.create_id(issuer, cert["number"]),
        seq=record.seq,
        event=record.event,
        status=record.status,
        reason=record.reason,
        effective_at=instant(record.effective_at),
        recorded_at=instant(record.recorded_at),
        certificate=_certificate_json(cert),
    )


def history_rows(records: Iterable[Record], issuer: str) -> list[HistoryRow]:
    """History rows of the certificate records among ``records`` (key records are skipped)."""
    return [history_row(r, issuer) for r in records if r.kind == "certificate"]


def current_row(record: Record, issuer: str, before: CurrentRow | None) -> CurrentRow:
    """The certificate's state after ``record``; ``before`` is its state earlier in the batch."""
    cert = record.certificate
    suspended_at: datetime | None = None
    suspension_reason: str | None = None
    if record.event == SUSPENDED:
        suspended_at, suspension_reason = instant(record.effective_at), record.reason
    elif record.status == SUSPENDED and before is not None:
        suspended_at, suspension_reason = before.suspended_at, before.suspension_reason
    return CurrentRow(
        number=cert["number"],
        certificate_id=Certificate.create_id(issuer, cert["number"]),
        scheme=cert["scheme"],
        holder=cert["holder"],
        manufacturer=cert["manufacturer"],
        product=cert["product"],
        scope=cert["scope"],
        factories=list(cert["factories"]),
        models=list(cert["models"]),
        standards=list(cert["standards"]),
        valid_from=instant(cert["validFrom"]),
        valid_until=instant(cert["validUntil"]),
        status=record.status,
        event=record.event,
        seq=record.seq,
        reason=record.reason,
        effective_at=instant(record.effective_at),
        recorded_at=instant(record.recorded_at),
        log_index=record.index,
        suspended_at=suspended_at,
        suspension_reason=suspension_reason,
        certificate=_certificate_json(cert),
    )


def fold_current(records: Iterable[Record], issuer: str) -> dict[str, CurrentRow]:
    """The newest row per certificate number after ``records`` (in index order)."""
    rows: dict[str, CurrentRow] = {}
    for record in records:
        if record.kind != "certificate":
            continue
        number = record.certificate["number"]
        rows[number] = current_row(record, issuer, rows.get(number))
    return rows
