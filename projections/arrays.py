"""A batch of rows as one statement: per-column arrays expanded by ``unnest``.

``INSERT ... SELECT ... FROM unnest($1::t1[], $2::t2[], ...)`` writes a whole
batch in one round trip and one executor run, where ``executemany`` binds and
executes the statement once per row. ``unnest`` cannot take an array of arrays
whose rows differ in length, so a column of type ``text[]`` travels as the
text of an array literal per row (:func:`array_literal`) and is cast back in
the ``SELECT``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def array_literal(items: Iterable[object]) -> str:
    """A ``text[]`` literal holding exactly ``items`` (every element quoted and escaped).

    Raises ``ValueError`` (a parkable error) for an element that is not a str.
    """
    quoted = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"array element {item!r} is not text")
        quoted.append('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(quoted) + "}"


def unnest_select(columns: Sequence[str], types: Sequence[str]) -> str:
    """``SELECT <columns> FROM unnest($1::<type>[], ...) AS u(<columns>)``; ``text[]`` columns cast back."""
    if len(columns) != len(types):
        raise ValueError("one type per column")
    params = ", ".join(f"${i}::{'text' if t == 'text[]' else t}[]" for i, t in enumerate(types, 1))
    picked = ", ".join(
        f"u.{c}::text[]" if t == "text[]" else f"u.{c}" for c, t in zip(columns, types, strict=True)
    )
    return f"SELECT {picked} FROM unnest({params}) AS u({', '.join(columns)})"


def column_arrays(rows: Sequence[Sequence[Any]], types: Sequence[str]) -> list[list[Any]]:
    """The arguments of :func:`unnest_select` for ``rows`` (one list per column)."""
    arrays = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in types]
    for i, t in enumerate(types):
        if t == "text[]":
            arrays[i] = [None if v is None else array_literal(v) for v in arrays[i]]
    return arrays
