"""The read-model queries of the API that ``ReadModels`` does not answer: keyset pages, prefixes, limits.

Search pages are in ``number`` order (the primary key) and continue after the
last number of the previous page (keyset pagination): a page never repeats
or skips a certificate that existed through both requests, whatever was
written in between. The cursor is that number (any text is a valid cursor).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

#: Search filters (query parameter -> SQL condition; ``{p}`` is its placeholder).
FILTERS: dict[str, str] = {
    "number_prefix": "starts_with(number, {p})",
    "holder": "strpos(lower(holder), lower({p})) > 0",
    "manufacturer": "strpos(lower(manufacturer), lower({p})) > 0",
    "product": "strpos(lower(product), lower({p})) > 0",
    "model": "models @> ARRAY[{p}::text]",
    "standard": "standards @> ARRAY[{p}::text]",
    "scheme": "scheme = {p}",
    "factory": "factories @> ARRAY[{p}::text]",
    "status": "status = {p}",
}
_SUMMARY = (
    "number, status, scheme, holder, manufacturer, product, models, factories, standards, "
    "valid_from, valid_until, log_index"
)


async def search(
    conn: asyncpg.Connection, s: str, filters: dict[str, str], after: str | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """One page of certificates matching every filter, by number, after ``after``; and whether more follow."""
    conditions: list[str] = []
    params: list[object] = []
    for name, value in filters.items():
        params.append(value)
        conditions.append(FILTERS[name].format(p=f"${len(params)}"))
    if after is not None:
        params.append(after)
        conditions.append(f"number > ${len(params)}")
    where = " AND ".join(conditions) or "true"
    params.append(limit + 1)
    rows = await conn.fetch(
        f"SELECT {_SUMMARY} FROM {s}.certificates WHERE {where} ORDER BY number LIMIT ${len(params)}", *params
    )
    return [dict(r) for r in rows[:limit]], len(rows) > limit


async def expiring(
    conn: asyncpg.Connection, s: str, now: datetime, days: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Valid or suspended certificates whose validity ends within ``days`` of ``now``, soonest first."""
    rows = await conn.fetch(
        f"SELECT {_SUMMARY} FROM {s}.certificates WHERE status IN ('valid', 'suspended') "
        "AND valid_until > $1 AND valid_until <= $2 ORDER BY valid_until, number LIMIT $3",
        now,
        now + timedelta(days=days),
        limit + 1,
    )
    return [dict(r) for r in rows[:limit]], len(rows) > limit


async def history(conn: asyncpg.Connection, s: str, number: str) -> list[dict[str, Any]]:
    """Every history row of ``number`` in log order."""
    rows = await conn.fetch(
        f"SELECT log_index, seq, event, status, reason, effective_at, recorded_at, certificate, parked_index "
        f"FROM {s}.certificate_history WHERE number = $1 ORDER BY log_index",
        number,
    )
    return [dict(r) for r in rows]


async def counts(conn: asyncpg.Connection, s: str) -> list[dict[str, Any]]:
    """``(status, scheme, count)`` rows; a certificate with no applied record has scheme null."""
    rows = await conn.fetch(
        f"SELECT status, scheme, count(*) AS n FROM {s}.certificates GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST"
    )
    return [dict(r) for r in rows]


async def current(
    conn: asyncpg.Connection, s: str, number: str
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Certificate ``number``'s row (None if unknown) and the read model's position, in one statement.

    One statement reads one snapshot, so the row and the position agree (a
    rebuild swaps the view and ``projection_live`` in one transaction).
    Position keys: ``generation``, ``checkpoint_size``, ``updated_at``.
    """
    row = await conn.fetchrow(
        f"SELECT st.generation AS _generation, st.checkpoint_size AS _checkpoint_size, "
        f"st.updated_at AS _updated_at, c.* FROM {s}.projection_live l "
        f"JOIN {s}.projection_state st ON st.name = l.name AND st.generation = l.generation "
        f"LEFT JOIN {s}.certificates c ON c.number = $1 WHERE l.name = 'certificates'",
        number,
    )
    if row is None:
        raise LookupError("projection certificates is not initialised")
    data = dict(row)
    position = {k[1:]: data.pop(k) for k in ("_generation", "_checkpoint_size", "_updated_at")}
    return (data if data.get("number") is not None else None), position
