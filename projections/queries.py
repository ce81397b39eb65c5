"""Questions the read models answer (asyncpg; every query reads the live views)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from certlife.contracts.verification.status import UNAVAILABLE, StatusAnswer
from certlife.projections.answer import answer_status
from certlife.projections.parked import parked_entry
from certlife.projections.tracking import Position, live_generation, load_position

#: The scheme ``counts`` gives a certificate unavailable since its first record (nothing applied).
UNKNOWN_SCHEME = "(unknown)"
#: Search filters and the SQL condition each adds (``$n`` is filled in).
_FILTERS = {
    "holder": "lower(holder) LIKE '%' || lower({p}) || '%'",
    "manufacturer": "lower(manufacturer) LIKE '%' || lower({p}) || '%'",
    "product": "lower(product) LIKE '%' || lower({p}) || '%'",
    "model": "models @> ARRAY[{p}::text]",
    "standard": "standards @> ARRAY[{p}::text]",
    "scheme": "scheme = {p}",
    "status": "status = {p}",
}


class ReadModels:
    """Read-only access to the projections in one schema.

    A certificate whose newest record is parked has ``status = 'unavailable'``
    (``parked_index`` names the record): ``status`` answers ``unavailable``,
    counts list it under that status, ``expiring`` and ``awaiting_review`` leave it out.
    """

    def __init__(self, conn: asyncpg.Connection, schema_sql: str) -> None:
        """Use ``conn`` (owned by the caller)."""
        self.conn = conn
        self.s = schema_sql

    async def position(self, name: str = "certificates") -> Position:
        """The live generation's position of projection ``name``."""
        generation = await live_generation(self.conn, self.s, name, lock=False)
        return await load_position(self.conn, self.s, name, generation)

    async def certificate(self, number: str) -> dict[str, Any] | None:
        """The current row of certificate ``number``."""
        row = await self.conn.fetchrow(f"SELECT * FROM {self.s}.certificates WHERE number = $1", number)
        return None if row is None else dict(row)

    async def certificate_by_id(self, certificate_id: UUID) -> dict[str, Any] | None:
        """The current row of the certificate with this id (uuid5 of issuer and number)."""
        row = await self.conn.fetchrow(
            f"SELECT * FROM {self.s}.certificates WHERE certificate_id = $1", certificate_id
        )
        return None if row is None else dict(row)

    async def status(self, number: str, now: datetime) -> StatusAnswer:
        """The status answer for ``number`` with the index and checkpoint it rests on."""
        async with self.conn.transaction(isolation="repeatable_read", readonly=True):
            position = await self.position()
            row = await self.certificate(number)
            parked = None
            if row is not None and row["status"] == UNAVAILABLE:
                parked = await parked_entry(
                    self.conn, self.s, "certificates", position.generation, row["parked_index"]
                )
        return answer_status(number, row, position.checkpoint_size, position.updated_at, now, parked)

    async def history(self, number: str) -> list[dict[str, Any]]:
        """Every record of certificate ``number`` in order (a parked one as its ``unavailable`` placeholder)."""
        rows = await self.conn.fetch(
            f"SELECT * FROM {self.s}.certificate_history WHERE number = $1 ORDER BY log_index", number
        )
        return [dict(r) for r in rows]

    async def search(self, *, limit: int = 100, **filters: str | None) -> list[dict[str, Any]]:
        """Certificates matching every given filter (``_FILTERS`` names), by number."""
        conditions: list[str] = []
        params: list[object] = []
        for name, value in filters.items():
            if value is None:
                continue
            if name not in _FILTERS:
                raise ValueError(f"unknown search filter {name!r}")
            params.append(value)
            conditions.append(_FILTERS[name].format(p=f"${len(params)}"))
        where = " AND ".join(conditions) or "true"
        params.append(limit)
        rows = await self.conn.fetch(
            f"SELECT * FROM {self.s}.certificates WHERE {where} ORDER BY number LIMIT ${len(params)}", *params
        )
        return [dict(r) for r in rows]

    async def counts(self) -> dict[tuple[str, str], int]:
        """Number of certificates per (status, scheme); ``UNKNOWN_SCHEME`` when no record applied."""
        rows = await self.conn.fetch(
            f"SELECT status, coalesce(scheme, '{UNKNOWN_SCHEME}') AS scheme, count(*) AS n "
            f"FROM {self.s}.certificates GROUP BY 1, 2"
        )
        return {(r["status"], r["scheme"]): r["n"] for r in rows}

    async def expiring(self, days: int, now: datetime) -> list[dict[str, Any]]:
        """Valid or suspended certificates whose validity ends within ``days`` of ``now``."""
        rows = await self.conn.fetch(
            f"SELECT * FROM {self.s}.certificates WHERE status IN ('valid', 'suspended') "
            "AND valid_until > $1 AND valid_until <= $2 ORDER BY valid_until, number",
            now,
            now + timedelta(days=days),
        )
        return [dict(r) for r in rows]

    async def awaiting_review(self) -> list[dict[str, Any]]:
        """Suspended certificates, oldest suspension first (with its reason and date).

        The review date is on the internal domain event only; this read model
        consumes the public log, so every current suspension awaits review.
        """
        rows = await self.conn.fetch(
            f"SELECT * FROM {self.s}.certificates WHERE status = 'suspended' ORDER BY suspended_at, number"
        )
        return [dict(r) for r in rows]
