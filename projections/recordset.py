"""A batch of rows as one statement: one ``jsonb`` parameter expanded by ``jsonb_to_recordset``.

``INSERT ... SELECT ... FROM jsonb_to_recordset($1::jsonb) AS u(<column> <type>, ...)``
writes a whole batch in one round trip and one executor run. The batch
travels as one JSON text that ``orjson`` encodes in C: per-column arrays
(``unnest``) cost asyncpg an element-by-element encoding in the event loop,
about three times the client CPU of this for the same rows; PostgreSQL's
share grows a little (it parses the JSON).

Values keep the meaning they have in a COPY of the same rows (the rebuild):
a datetime becomes RFC 3339 text with its offset, a UUID its text, a list of
str a JSON array (a ``text[]``), and a ``jsonb`` column's value, JSON text
already, is embedded as it is. Every value is checked against its column's
type first (``PYTHON_TYPES``): a value of another type, or one JSON cannot
hold, raises ``asyncpg.DataError`` (a parkable error, as when asyncpg refuses
a query argument) instead of being converted by PostgreSQL (JSON would turn a
number into the text of a ``text`` column).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

#: What a non-NULL value of each column type must be an instance of (``text[]``: a list of str).
PYTHON_TYPES: dict[str, type] = {
    "text": str,
    "integer": int,
    "bigint": int,
    "uuid": UUID,
    "timestamptz": datetime,
    "jsonb": str,
    "text[]": list,
}
#: Naive datetimes are UTC (as asyncpg reads them); no row of the projections holds one.
_OPTIONS = orjson.OPT_NAIVE_UTC


def recordset_select(columns: Sequence[str], types: Sequence[str]) -> str:
    """``SELECT u.<column>, ... FROM jsonb_to_recordset($1::jsonb) AS u(<column> <type>, ...)``."""
    if len(columns) != len(types):
        raise ValueError("one type per column")
    unknown = [t for t in types if t not in PYTHON_TYPES]
    if unknown:
        raise ValueError(f"no JSON mapping for column type {unknown[0]}")
    picked = ", ".join(f"u.{c}" for c in columns)
    defined = ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=True))
    return f"SELECT {picked} FROM jsonb_to_recordset($1::jsonb) AS u({defined})"


def _refused(column: str, type_: str, value: object, expected: str) -> asyncpg.DataError:
    return asyncpg.DataError(
        f"invalid input for column {column} ({type_}): {value!r:.200} "
        f"(expected {expected}, got {type(value).__name__})"
    )


def rows_json(rows: Sequence[Sequence[Any]], columns: Sequence[str], types: Sequence[str]) -> str:
    """The parameter of :func:`recordset_select` for ``rows`` (values in ``columns`` order).

    Raises ``asyncpg.DataError`` for a value its column does not accept
    (``PYTHON_TYPES``) or JSON cannot hold.
    """
    expected = [PYTHON_TYPES[t] for t in types]
    arrays = [i for i, t in enumerate(types) if t == "text[]"]
    embedded = [i for i, t in enumerate(types) if t == "jsonb"]
    objects = []
    for row in rows:
        values = list(row)
        for value, kind, column, type_ in zip(values, expected, columns, types, strict=True):
            if value is not None and not isinstance(value, kind):
                raise _refused(column, type_, value, kind.__name__)
        for i in arrays:
            for item in values[i] or ():
                if not isinstance(item, str):
                    raise _refused(columns[i], "text[]", item, "str array element")
        for i in embedded:
            if values[i] is not None:
                values[i] = orjson.Fragment(values[i])
        objects.append(dict(zip(columns, values, strict=True)))
    try:
        return orjson.dumps(objects, option=_OPTIONS).decode()
    except orjson.JSONEncodeError as exc:
        raise asyncpg.DataError(f"invalid input: a row is not encodable as JSON: {exc}") from None
