"""The partner mirror's row of one certificate record, and a batch of them that is still a batch of records.

:func:`mirror_row` maps a parsed certificate record to the values the mirror
stores (``mirror_history`` and ``mirror_certificates``). The mirror's workers
compute rows next to the record checks, so the parent never parses a record
again; for the common (plain) record they send :func:`plain_row_values`: the
same values as a plain tuple (a NamedTuple costs several times more to pickle)
without the certificate's JSON text, which the writer cuts from the record's
bytes it holds anyway (:func:`certificate_text`) instead of receiving a copy.
:class:`RowBatch` carries those rows to
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


#: :class:`MirrorRow`'s values as a plain tuple; ``certificate`` None: :func:`certificate_text` of the record.
RowValues = tuple[int, str, int, str, str, "str | None", str, str, "str | None"]
#: A row as the store takes it.
AnyRow = MirrorRow | RowValues
#: How every certificate record's canonical bytes begin, and what follows the certificate of a plain one.
_CERTIFICATE_START = b'{"certificate":'
_CERTIFICATE_END = b'},"effectiveAt":"'


def _json_text(value: object) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: PostgreSQL's jsonb decides
        return json.dumps(value)


def mirror_row(data: Mapping[str, Any]) -> MirrorRow:
    """The row of a certificate record, given its parsed members (``Record.data``)."""
    return MirrorRow(*_members(data), _json_text(data["certificate"]))


def plain_row_values(data: Mapping[str, Any]) -> RowValues:
    """:func:`mirror_row` of a plain record as a plain tuple, the certificate left to :func:`certificate_text`.

    Only for bytes :func:`certlife.contracts.verification.plain.recognise` accepted:
    their certificate member is written in full in them.
    """
    return (*_members(data), None)


def _members(data: Mapping[str, Any]) -> tuple[int, str, int, str, str, str | None, str, str]:
    """A row's values before its certificate, in column order."""
    return (
        data["index"],
        data["certificate"]["number"],
        data["seq"],
        data["event"],
        data["status"],
        data["reason"],
        data["effectiveAt"],
        data["recordedAt"],
    )


def certificate_text(raw: bytes) -> str:
    """The ``certificate`` member of a plain record's canonical bytes, as JSON text.

    A plain record (RFC 8785, members in order) opens with its certificate
    object, and that object is followed by ``,"effectiveAt":"``: no string
    in it can hold that text (every ``"`` inside a string is escaped), and
    its own members are fixed, so the first ``},"effectiveAt":"`` ends it.
    """
    if not raw.startswith(_CERTIFICATE_START):
        raise ValueError("not the bytes of a plain certificate record")
    end = raw.index(_CERTIFICATE_END, len(_CERTIFICATE_START)) + 1
    return raw[len(_CERTIFICATE_START) : end].decode("utf-8")


class RowBatch(Sequence[Record]):
    """Certificate records given as their rows and bytes, in log order.

    Writers read :meth:`columns`; indexing yields the parsed :class:`Record`
    (a parse of the bytes, for the rare record that must be parked), and a
    slice is a smaller ``RowBatch``.
    """

    def __init__(self, rows: Sequence[AnyRow], raws: Sequence[bytes]) -> None:
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

    def columns(self) -> list[list[Any]]:
        """The rows as column lists (the arrays ``unnest`` turns back into rows), certificates filled in."""
        columns = [list(column) for column in zip(*self.rows, strict=True)] or [[] for _ in MirrorRow._fields]
        texts = columns[-1]
        for at, text in enumerate(texts):
            if text is None:
                texts[at] = certificate_text(self.raws[at])
        return columns


def row_columns(records: Sequence[Record]) -> list[list[Any]]:
    """The rows of ``records`` as column lists, one per :class:`MirrorRow` field (key records have none)."""
    if not isinstance(records, RowBatch):
        records = RowBatch(*_rows_and_raws(records))
    return records.columns()


def _rows_and_raws(records: Sequence[Record]) -> tuple[list[AnyRow], list[bytes]]:
    certificates = [r for r in records if r.kind == "certificate"]
    return [mirror_row(r.data) for r in certificates], [r.raw for r in certificates]
