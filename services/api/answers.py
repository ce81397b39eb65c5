"""The JSON bodies of the API's answers, from read-model rows, the status rule and the tiles.

The status is decided by the one rule every certlife reader uses
(:func:`certlife.contracts.verification.status.decide_status`). Status at a past
instant (``?at=``) follows the domain's two times (domain/README.md,
contracts/LOG.md §2): ``effectiveAt`` is when a change takes legal effect and
may be backdated, ``recordedAt`` when the log recorded it. The answer at
instant T is the certificate's newest record (log order) whose
``effectiveAt`` is at or before T — what the log *now* says held at T, so a
suspension recorded later but backdated before T counts. Parked records
(not applied) have no ``effectiveAt`` and are left out. A ``valid`` or
``suspended`` record whose validity ended by T answers ``expired``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from certlife.contracts.tlogproof import TlogProof
from certlife.contracts.verification.status import CheckpointRef, LatestRecord, StatusAnswer, decide_status
from certlife.services.api.tiles_view import Published


def iso(value: datetime | None) -> str | None:
    """RFC 3339 UTC with ``Z`` (None stays None)."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def certificate_data(raw: Any) -> dict[str, Any] | None:
    """The public certificate data of a row (``jsonb`` arrives as text)."""
    if raw is None:
        return None
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def summary(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A search or expiry result: the certificate's current row in brief."""
    status = row["status"]
    until = row["valid_until"]
    if status in ("valid", "suspended") and until is not None and until <= now:
        status = "expired"
    return {
        "number": row["number"],
        "status": status,
        "scheme": row["scheme"],
        "holder": row["holder"],
        "manufacturer": row["manufacturer"],
        "product": row["product"],
        "models": row["models"] or [],
        "factories": row["factories"] or [],
        "standards": row["standards"] or [],
        "validFrom": iso(row["valid_from"]),
        "validUntil": iso(until),
        "logIndex": row["log_index"],
    }


def history_entry(row: dict[str, Any]) -> dict[str, Any]:
    """One event of a certificate's history."""
    return {
        "logIndex": row["log_index"],
        "seq": row["seq"],
        "event": row["event"],
        "status": row["status"],
        "reason": row["reason"],
        "effectiveAt": iso(row["effective_at"]),
        "recordedAt": iso(row["recorded_at"]),
    }


def row_at(rows: list[dict[str, Any]], at: datetime) -> dict[str, Any] | None:
    """The history row in force at ``at`` (module docstring), or None before the first."""
    found = [r for r in rows if r["effective_at"] is not None and r["effective_at"] <= at]
    return max(found, key=lambda r: r["log_index"]) if found else None


def valid_until(certificate: dict[str, Any] | None) -> datetime | None:
    """``validUntil`` of certificate data."""
    text = None if certificate is None else certificate.get("validUntil")
    if not isinstance(text, str):
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def newest_checkpoint(
    published: Published | None, size: int | None, index: int | None
) -> CheckpointRef | None:
    """The checkpoint an answer rests on: the published (cosigned) one if it covers ``index``, else the read model's."""
    if published is not None and (index is None or index < published.size):
        return CheckpointRef(published.size, published.time, published.checkpoint.root_hash)
    return None if size is None else CheckpointRef(size)


def status_at(
    number: str, row: dict[str, Any], checkpoint: CheckpointRef | None, at: datetime
) -> StatusAnswer:
    """The status answer at ``at`` from history row ``row``."""
    cert = certificate_data(row["certificate"])
    latest = LatestRecord(
        index=row["log_index"],
        status=row["status"],
        seq=row["seq"],
        event=row["event"],
        effective_at=iso(row["effective_at"]),
        recorded_at=iso(row["recorded_at"]),
        valid_until=valid_until(cert),
    )
    return decide_status(number, latest, checkpoint, now=at)


def status_body(answer: StatusAnswer, row: dict[str, Any], at: datetime | None) -> dict[str, Any]:
    """The body of ``GET /v1/certificates/{number}`` (without ``proof``)."""
    record = answer.record
    cert = certificate_data(row.get("certificate"))
    return {
        "number": answer.number,
        "status": answer.status,
        "recordStatus": row["status"],
        "event": None if record is None else record.event,
        "seq": None if record is None else record.seq,
        "reason": row.get("reason"),
        "effectiveAt": None if record is None else record.effective_at,
        "recordedAt": answer.recorded_at,
        "validUntil": iso(valid_until(cert)),
        "certificate": cert,
        "logIndex": answer.index,
        "anchored": answer.anchored,
        "checkpoint": None if answer.checkpoint is None else answer.checkpoint.to_json(),
        "note": answer.note,
        "at": iso(at),
    }


def proof_body(record: bytes, index: int, inclusion: list[bytes], published: Published) -> dict[str, Any]:
    """``proof``: the record's exact text, its inclusion proof and the cosigned checkpoint note.

    ``tlogProof`` is the same evidence as a C2SP tlog-proof (contracts/BUNDLE.md §4):
    saved to a file, ``certverify proof FILE --trust trust.json`` checks it.
    """
    tlog = TlogProof(index=index, proof=tuple(inclusion), checkpoint=published.note, extra=record)
    return {
        "record": record.decode("utf-8"),
        "leafIndex": index,
        "treeSize": published.size,
        "inclusion": [base64.b64encode(h).decode("ascii") for h in inclusion],
        "checkpoint": published.note,
        "tlogProof": tlog.to_text(),
    }
