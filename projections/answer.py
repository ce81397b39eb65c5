"""The answer to "what is the status of certificate N?" (pure, from a read-model row)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

#: Statuses that end when the validity period ends.
_LIVE = ("valid", "suspended")


@dataclass(frozen=True)
class StatusAnswer:
    """valid / suspended / revoked / withdrawn / expired / unknown, and what it rests on."""

    number: str
    answer: str
    index: int | None
    checkpoint: int | None
    recorded_at: datetime | None
    age_seconds: float | None
    read_model_updated_at: datetime | None
    note: str | None = None

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
) -> StatusAnswer:
    """Decide the answer for ``number`` from its current row (None when never seen)."""
    if row is None:
        return StatusAnswer(number, "unknown", None, None, None, None, updated_at)
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
