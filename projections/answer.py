"""``certctl status``: the one status answer (``certlife.contracts.verification.status``) from a read-model row.

The read model only says what it holds — the certificate's current row and
the newest checkpoint it has seen — and :func:`decide_status` decides. A row
whose newest record was parked answers ``unavailable`` with the parked
record's index (and its reason when known), never the status it had before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from certlife.contracts.verification.status import (
    UNAVAILABLE,
    CheckpointRef,
    LatestRecord,
    StatusAnswer,
    decide_status,
)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def covering_checkpoint(index: int, checkpoint_size: int | None) -> int | None:
    """The newest checkpoint size seen if it covers ``index`` (size > index), else None."""
    return checkpoint_size if checkpoint_size is not None and checkpoint_size > index else None


def latest_record(row: dict[str, Any]) -> LatestRecord:
    """The certificate's newest record as its ``certificates`` row holds it."""
    if row["status"] == UNAVAILABLE:
        return LatestRecord(row["parked_index"], UNAVAILABLE)
    return LatestRecord(
        index=row["log_index"],
        status=row["status"],
        seq=row.get("seq"),
        event=row.get("event"),
        effective_at=_iso(row.get("effective_at")),
        recorded_at=_iso(row["recorded_at"]),
        valid_until=row["valid_until"],
    )


def answer_status(
    number: str,
    row: dict[str, Any] | None,
    checkpoint_size: int | None,
    updated_at: datetime | None,
    now: datetime,
    parked: dict[str, Any] | None = None,
) -> StatusAnswer:
    """The answer for ``number`` from its current row (None when never seen).

    ``parked`` is the parked record an ``unavailable`` row rests on, when it is known.
    """
    return decide_status(
        number,
        None if row is None else latest_record(row),
        None if checkpoint_size is None else CheckpointRef(checkpoint_size),
        now=now,
        parked=None if parked is None else {k: v for k, v in parked.items() if k != "parkedAt"},
        searched=" in the read model",
        source_updated_at=updated_at,
    )


def read_model_json(answer: StatusAnswer) -> dict[str, Any]:
    """``certctl status --json``: the answer with the read model's names (checkpoint as its size)."""
    age = answer.age_seconds
    out: dict[str, Any] = {
        "number": answer.number,
        "status": answer.status,
        "index": answer.index,
        "checkpoint": answer.checkpoint_size,
        "recordedAt": answer.recorded_at,
        "ageSeconds": None if age is None else round(age, 3),
        "readModelUpdatedAt": _iso(answer.source_updated_at),
    }
    if answer.note:
        out["note"] = answer.note
    if answer.parked is not None:
        out["parked"] = answer.parked
    return out
