"""Pure mapping from log records to read-model row changes (no IO).

Two row shapes come out of a batch of records, in index order:

* ``history_rows``: one row per certificate record (append-only, keyed by index);
* ``fold_current``: one row per certificate, the newest state in the batch.

Both carry their times as whole microseconds since the Unix epoch
(:func:`instant_us`), which the writers send as ``timestamptz`` without a
``datetime`` (``certlife.projections.instants``).

A certificate's suspension (``suspended_at``/``suspension_reason``) is known
only from its ``suspended`` record. When a later record in the batch keeps the
status ``suspended`` (an amendment, a renewal) the fold carries the values
forward; when the suspension happened in an earlier batch the row carries
``None`` and the writer keeps the stored values (see ``certlife.projections.certificates``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

import orjson

from certlife.contracts.records import Record
from certlife.domain.certificate import Certificate

SUSPENDED = "suspended"


@functools.lru_cache(maxsize=8192)
def instant(text: str) -> datetime:
    """An RFC 3339 timestamp (or a date, read as midnight UTC) as an aware datetime.

    Remembered for the texts seen lately (a ``datetime`` is immutable): both
    read models parse each record's ``effectiveAt`` and ``recordedAt``, often
    the same text, and a certificate's records repeat its validity dates.
    """
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """An aware ``moment`` in whole microseconds since 1970-01-01T00:00:00Z (exact: a ``datetime``
    holds microseconds)."""
    return (moment - _EPOCH) // _MICROSECOND


@functools.lru_cache(maxsize=8192)
def instant_us(text: str) -> int:
    """:func:`instant` of ``text`` as :func:`epoch_us`, as the read models' rows carry a time."""
    return epoch_us(instant(text))


def checkpoint_size(note: bytes) -> int:
    """The tree size of a signed checkpoint note (its second line)."""
    lines = note.split(b"\n", 2)
    if len(lines) < 3 or not lines[1].isdigit():
        raise ValueError("not a checkpoint note: no tree size on line 2")
    return int(lines[1])


class CurrentRow(NamedTuple):
    """The newest state of one certificate (a row of ``certificates``, in ``CURRENT_COLUMNS`` order),
    its times in microseconds since the Unix epoch (:func:`instant_us`) and its lists as array
    literals (:func:`text_array`)."""

    number: str
    certificate_id: UUID
    scheme: str
    holder: str
    manufacturer: str
    product: str
    scope: str
    factories: str
    models: str
    standards: str
    valid_from: int
    valid_until: int
    status: str
    event: str
    seq: int
    reason: str | None
    effective_at: int
    recorded_at: int
    log_index: int
    suspended_at: int | None
    suspension_reason: str | None
    certificate: str

    def as_tuple(self) -> tuple[Any, ...]:
        """Values in ``CURRENT_COLUMNS`` order."""
        return tuple(self)


class HistoryRow(NamedTuple):
    """One certificate record (a row of ``certificate_history``, in ``HISTORY_COLUMNS`` order), its
    times in microseconds since the Unix epoch (:func:`instant_us`)."""

    log_index: int
    number: str
    certificate_id: UUID
    seq: int
    event: str
    status: str
    reason: str | None
    effective_at: int
    recorded_at: int
    certificate: str

    def as_tuple(self) -> tuple[Any, ...]:
        """Values in ``HISTORY_COLUMNS`` order."""
        return tuple(self)


CURRENT_COLUMNS = CurrentRow._fields
HISTORY_COLUMNS = HistoryRow._fields
#: A certificate's suspension as the current row carries it: (``suspended_at``, ``suspension_reason``).
Suspension = tuple[int | None, str | None]
_NO_SUSPENSION: Suspension = (None, None)


@functools.lru_cache(maxsize=65536)
def certificate_id(issuer: str, number: str) -> UUID:
    """``Certificate.create_id`` (a uuid5), remembered for the numbers seen lately."""
    return Certificate.create_id(issuer, number)


#: The JSON text of the certificates encoded lately, by object identity: both read models map
#: each record of a batch, and a certificate costs about 3.6 us to encode. An entry holds its
#: certificate, so that object's ``id`` cannot be reused while the entry is kept; the memo is
#: emptied when it reaches :data:`JSON_MEMO_SIZE` (about two batches' certificates).
_JSON_MEMO: dict[int, tuple[dict[str, Any], str]] = {}
JSON_MEMO_SIZE = 8192


def certificate_json(cert: dict[str, Any]) -> str:
    """The certificate as JSON text for a ``jsonb`` column (``jsonb`` orders the keys itself).

    A record's certificate is never changed once read, so the text of the same
    object is encoded once and remembered (:data:`JSON_MEMO_SIZE`). Raises
    ``ValueError`` (a parkable error) for a value JSON cannot hold.
    """
    hit = _JSON_MEMO.get(id(cert))
    if hit is not None and hit[0] is cert:
        return hit[1]
    try:
        text = orjson.dumps(cert).decode("utf-8")
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"certificate not encodable as JSON: {exc}") from None
    if len(_JSON_MEMO) >= JSON_MEMO_SIZE:
        _JSON_MEMO.clear()
    _JSON_MEMO[id(cert)] = (cert, text)
    return text


def text_array(items: list[str]) -> str:
    """``items`` as a PostgreSQL array literal (``text[]`` input), the form the certificates' stage takes.

    asyncpg's binary array encoder tests each array and element against the
    collection ABCs: three 2-element arrays cost about 8 us per row. Here,
    ``orjson`` writes the JSON array; when it holds no backslash, no element
    holds a ``"``, a ``\\`` or a control character, and between ``{`` and ``}``
    the quoted elements read exactly as written. Otherwise each element is
    quoted with ``"`` and ``\\`` escaped. Raises ``TypeError`` for an element
    that is not text.
    """
    for item in items:
        if type(item) is not str:
            raise TypeError(f"array element is {type(item).__name__}, not text")
    encoded = orjson.dumps(items)
    if b"\\" not in encoded:
        return "{" + encoded[1:-1].decode("utf-8") + "}"
    return "{" + ",".join('"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"' for x in items) + "}"


def history_row(record: Record, issuer: str) -> HistoryRow:
    """The history row of one certificate record.

    The mapping reads the record's members from ``Record.data`` (what its
    properties return): several properties per record, for every record of a
    batch, cost more than the dictionary lookups they wrap.
    """
    data: Any = record.data  # checked record members, as ``Record``'s properties return them
    cert = data.get("certificate")
    return HistoryRow(
        record.index,
        cert["number"],
        certificate_id(issuer, cert["number"]),
        data.get("seq"),
        data.get("event"),
        data.get("status"),
        data.get("reason"),
        instant_us(data.get("effectiveAt")),
        instant_us(data.get("recordedAt")),
        certificate_json(cert),
    )


def history_rows(records: Iterable[Record], issuer: str) -> list[HistoryRow]:
    """History rows of the certificate records among ``records`` (key records are skipped)."""
    return [history_row(r, issuer) for r in records if r.kind == "certificate"]


def _suspension(data: Any, before: Suspension | None) -> Suspension:
    """The suspension after the record of ``data``; ``before`` is the one earlier in the batch (None: none there)."""
    if data.get("event") == SUSPENDED:
        return instant_us(data.get("effectiveAt")), data.get("reason")
    if data.get("status") == SUSPENDED and before is not None:
        return before
    return _NO_SUSPENSION


def current_row(record: Record, issuer: str, before: CurrentRow | None) -> CurrentRow:
    """The certificate's state after ``record``; ``before`` is its state earlier in the batch."""
    earlier = None if before is None else (before.suspended_at, before.suspension_reason)
    return _current_row(record, issuer, _suspension(record.data, earlier))


def _current_row(record: Record, issuer: str, suspension: Suspension) -> CurrentRow:
    data: Any = record.data  # checked record members, as ``Record``'s properties return them
    cert = data.get("certificate")
    return CurrentRow(
        cert["number"],
        certificate_id(issuer, cert["number"]),
        cert["scheme"],
        cert["holder"],
        cert["manufacturer"],
        cert["product"],
        cert["scope"],
        text_array(cert["factories"]),
        text_array(cert["models"]),
        text_array(cert["standards"]),
        instant_us(cert["validFrom"]),
        instant_us(cert["validUntil"]),
        data.get("status"),
        data.get("event"),
        data.get("seq"),
        data.get("reason"),
        instant_us(data.get("effectiveAt")),
        instant_us(data.get("recordedAt")),
        record.index,
        suspension[0],
        suspension[1],
        certificate_json(cert),
    )


def fold_current(records: Iterable[Record], issuer: str) -> dict[str, CurrentRow]:
    """The newest row per certificate number after ``records`` (in index order).

    Only each certificate's newest record becomes a row; the earlier ones of the
    batch carry its suspension forward (``_suspension``).
    """
    newest: dict[str, tuple[Record, Suspension]] = {}
    for record in records:
        if record.kind != "certificate":
            continue
        data: Any = record.data
        number = data.get("certificate")["number"]
        earlier = newest.get(number)
        newest[number] = (record, _suspension(data, None if earlier is None else earlier[1]))
    return {number: _current_row(record, issuer, s) for number, (record, s) in newest.items()}
