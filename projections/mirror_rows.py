"""The partner mirror's row of one certificate record, and a batch of them that is still a batch of records.

:func:`mirror_row` maps a parsed certificate record to the values the mirror
stores (``mirror_history`` and ``mirror_certificates``). The mirror's workers
compute rows next to the record checks, so the parent never parses a record
again; :class:`RowBatch` carries those rows to
:meth:`certlife.projections.mirror_store.MirrorStore.apply` as a
``Sequence[Record]`` (what the savepoint bisection of
``certlife.projections.savepoints`` splits), and parses a record's bytes only
when one of them is needed alone — when PostgreSQL refused a row and the
record is parked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, overload

import orjson

from certlife.contracts.records import Record, parse_record


class MirrorRow(NamedTuple):
    """The stored values of one certificate record (``certificate`` as JSON text)."""

    log_index: int
    number: str
    seq: int
    event: str
    status: str
    reason: str | None
    effective_at: str
    recorded_at: str
    certificate: str


def _json_text(value: object) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: PostgreSQL's jsonb decides
        return json.dumps(value)


def mirror_row(data: Mapping[str, Any]) -> MirrorRow:
    """The row of a certificate record, given its parsed members (``Record.data``)."""
    return MirrorRow(
        data["index"],
        data["certificate"]["number"],
        data["seq"],
        data["event"],
        data["status"],
        data["reason"],
        data["effectiveAt"],
        data["recordedAt"],
        _json_text(data["certificate"]),
    )


class RowBatch(Sequence[Record]):
    """Certificate records given as their rows and bytes, in log order.

    Writers read :attr:`rows`; indexing yields the parsed :class:`Record`
    (a parse of the bytes, for the rare record that must be parked), and a
    slice is a smaller ``RowBatch``.
    """

    def __init__(self, rows: Sequence[MirrorRow], raws: Sequence[bytes]) -> None:
        """Pair each row with the exact bytes of its record."""
        if len(rows) != len(raws):
            raise ValueError("a RowBatch needs one record's bytes per row")
        self.rows = rows
        self.raws = raws

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, at: int) -> Record: ...

    @overload
    def __getitem__(self, at: slice) -> RowBatch: ...

    def __getitem__(self, at: int | slice) -> Record | RowBatch:
        if isinstance(at, slice):
            return RowBatch(self.rows[at], self.raws[at])
        return parse_record(self.raws[at])

    def __iter__(self) -> Iterator[Record]:
        return (parse_record(raw) for raw in self.raws)


def rows_of(records: Sequence[Record]) -> Sequence[MirrorRow]:
    """The rows of ``records`` (a :class:`RowBatch` has them; key records have none)."""
    if isinstance(records, RowBatch):
        return records.rows
    return [mirror_row(r.data) for r in records if r.kind == "certificate"]
