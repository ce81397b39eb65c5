"""The answer to "what is the status of certificate N?" (pure, from a read-model row).

A row whose newest record was parked answers ``unavailable`` with the parked
record's index (and its reason when known), never the status it had before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from certlife.projections.parking import UNAVAILABLE

#: Statuses that end when the validity period ends.
_LIVE = ("valid", "suspended")


@dataclass(frozen=True)
class StatusAnswer:
    """valid / suspended / revoked / withdrawn / expired / unknown / unavailable, and what it rests on."""

    number: str
    answer: str
    index: int | None
    checkpoint: int | None
    recorded_at: datetime | None
    age_seconds: float | None
    read_model_updated_at: datetime | None
    note: str | None = None
    #: The parked record an ``unavailable`` answer rests on (index, certificate, code, message).
    parked: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with wire-style names."""
        data = asdict(self)
        out = {
            "number": data["number"],
            "status": data["answer"],
            "index": data["index"],
            "checkpoint": data["checkpoint"],
            "recordedAt": _iso(self.recorded_at),
            "ageSeconds": None if self.age_seconds is None else round(self.age_seconds, 3),
            "readModelUpdatedAt": _iso(self.read_model_updated_at),
        }
        if self.note:
            out["note"] = self.note
        if self.parked is not None:
            out["parked"] = {k: v for k, v in self.parked.items() if k != "parkedAt"}
        return out


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def covering_checkpoint(index: int, checkpoint_size: int | None) -> int | None:
    """The newest checkpoint size seen if it covers ``index`` (size > index), else None."""
    return checkpoint_size if checkpoint_size is not None and checkpoint_size > index else None


def answer_status(
    number: str,
    row: dict[str, Any] | None,
    checkpoint_size: int | None,
    updated_at: datetime | None,
    now: datetime,
    parked: dict[str, Any] | None = None,
) -> StatusAnswer:
    """Decide the answer for ``number`` from its current row (None when never seen).

    ``parked`` is the parked record an ``unavailable`` row rests on, when it is known.
    """
    if row is None:
        return StatusAnswer(number, "unknown", None, None, None, None, updated_at)
    if row["status"] == UNAVAILABLE:
        index = row["parked_index"]
        why = f": {parked['code']}: {parked['message']}" if parked is not None else ""
        return StatusAnswer(
            number=number,
            answer=UNAVAILABLE,
            index=index,
            checkpoint=covering_checkpoint(index, checkpoint_size),
            recorded_at=None,
            age_seconds=None,
            read_model_updated_at=updated_at,
            note=f"record {index} parked{why}",
            parked=parked,
        )
    answer, note = row["status"], None
    if answer in _LIVE and row["valid_until"] <= now:
        answer, note = "expired", "validity period ended; the expiry is not recorded yet"
    return StatusAnswer(
        number=number,
        answer=answer,
        index=row["log_index"],
        checkpoint=covering_checkpoint(row["log_index"], checkpoint_size),
        recorded_at=row["recorded_at"],
        age_seconds=(now - row["recorded_at"]).total_seconds(),
        read_model_updated_at=updated_at,
        note=note,
    )
