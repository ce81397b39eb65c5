"""The ``projection_parked`` table: records a read model generation parked, with the reason.

One row per (projection, generation, log index), so parking the same record
again (a redelivered batch, a restart) changes nothing, and a rebuild's new
generation keeps its own list (the old generation's rows go with its tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from certlife.projections.parking import Parked

#: DDL of the table (part of the tracking tables, ``certlife.projections.tracking``).
PARKED_SQL = """
CREATE TABLE IF NOT EXISTS {s}.projection_parked (
    name text NOT NULL, generation integer NOT NULL, log_index bigint NOT NULL,
    number text, code text NOT NULL, message text NOT NULL, raw bytea NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (name, generation, log_index));
"""


@dataclass(frozen=True)
class ParkedSummary:
    """How many records a generation parked, and the first few of them."""

    count: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: ``count`` and ``records`` (index, certificate, code, message, parkedAt)."""
        return {"count": self.count, "records": self.records}


async def store_parked(
    conn: asyncpg.Connection, schema_sql: str, name: str, generation: int, parked: Sequence[Parked]
) -> list[Parked]:
    """Keep ``parked`` (inside the batch's transaction); return those not kept before."""
    if not parked:
        return []
    rows = await conn.fetch(
        f"INSERT INTO {schema_sql}.projection_parked "
        "(name, generation, log_index, number, code, message, raw) "
        "SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::bytea[]) "
        "ON CONFLICT DO NOTHING RETURNING log_index",
        name,
        generation,
        [p.index for p in parked],
        [p.number for p in parked],
        [p.code for p in parked],
        [p.message for p in parked],
        [p.raw for p in parked],
    )
    stored = {r["log_index"] for r in rows}
    return [p for p in parked if p.index in stored]


def parked_json(row: asyncpg.Record) -> dict[str, Any]:
    """A parked-record row (log_index, number, code, message, parked_at) as a report entry."""
    return {
        "index": row["log_index"],
        "certificate": row["number"],
        "code": row["code"],
        "message": row["message"],
        "parkedAt": row["parked_at"].isoformat(),
    }


async def parked_summary(
    conn: asyncpg.Connection, schema_sql: str, name: str, generation: int, limit: int = 10
) -> ParkedSummary:
    """The count of a generation's parked records and the ``limit`` lowest indexes."""
    count = await conn.fetchval(
        f"SELECT count(*) FROM {schema_sql}.projection_parked WHERE name = $1 AND generation = $2",
        name,
        generation,
    )
    rows = await conn.fetch(
        f"SELECT log_index, number, code, message, parked_at FROM {schema_sql}.projection_parked "
        "WHERE name = $1 AND generation = $2 ORDER BY log_index LIMIT $3",
        name,
        generation,
        limit,
    )
    return ParkedSummary(int(count), [parked_json(r) for r in rows])


async def parked_entry(
    conn: asyncpg.Connection, schema_sql: str, name: str, generation: int, index: int
) -> dict[str, Any] | None:
    """The parked record at ``index`` of one generation (index, certificate, code, message)."""
    row = await conn.fetchrow(
        f"SELECT log_index, number, code, message, parked_at FROM {schema_sql}.projection_parked "
        "WHERE name = $1 AND generation = $2 AND log_index = $3",
        name,
        generation,
        index,
    )
    return None if row is None else parked_json(row)
