"""Where each projection generation is: stored offsets, last log index, newest checkpoint.

``projection_live`` points each projection at its live generation; a batch
holds that row ``FOR SHARE`` and its generation's ``projection_state`` row
``FOR UPDATE``, so batches of one projection are serialised and a rebuild's
swap (which updates ``projection_live``) waits for the batch in flight.
``projection_parked`` (``certlife.projections.parked``) lists the records each
generation parked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from certlife.projections.base import Projection, table
from certlife.projections.ddl import run_ddl
from certlife.projections.parked import PARKED_SQL

_SQL = """
CREATE TABLE IF NOT EXISTS {s}.projection_live (
    name text PRIMARY KEY, generation integer NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.projection_state (
    name text NOT NULL, generation integer NOT NULL,
    log_index bigint NOT NULL DEFAULT -1, checkpoint_size bigint,
    updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (name, generation));
CREATE TABLE IF NOT EXISTS {s}.projection_offsets (
    name text NOT NULL, generation integer NOT NULL, topic text NOT NULL,
    partition integer NOT NULL, next_offset bigint NOT NULL,
    PRIMARY KEY (name, generation, topic, partition));
"""

TopicPartitionKey = tuple[str, int]
#: The tracking tables (``_SQL`` and ``PARKED_SQL``); the projection process owns them.
TRACKING_TABLES = ("projection_live", "projection_state", "projection_offsets", "projection_parked")


@dataclass
class Position:
    """One generation's position: next offsets, last applied index, newest checkpoint."""

    generation: int
    log_index: int = -1
    checkpoint_size: int | None = None
    updated_at: datetime | None = None
    offsets: dict[TopicPartitionKey, int] = field(default_factory=dict)


async def create_tracking(conn: asyncpg.Connection, schema_sql: str) -> None:
    """Create the tracking tables if missing (no DDL at all when they all exist)."""
    await run_ddl(
        conn,
        schema_sql,
        (_SQL + PARKED_SQL).format(s=schema_sql),
        unless_exist=[f"{schema_sql}.{name}" for name in TRACKING_TABLES],
    )


async def ensure_projection(conn: asyncpg.Connection, schema_sql: str, projection: Projection) -> int:
    """Make sure ``projection`` has a live generation (1 at first start); return it."""
    async with conn.transaction():
        # Serialise first-time creation between processes starting together.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{schema_sql}.{projection.name}")
        live = await conn.fetchval(
            f"SELECT generation FROM {schema_sql}.projection_live WHERE name = $1", projection.name
        )
        if live is not None:
            await upgrade_generation(conn, schema_sql, projection, int(live))
            return int(live)
        await create_generation(conn, schema_sql, projection, 1, with_indexes=True)
        await conn.execute(projection.view_sql(schema_sql, 1))
        await conn.execute(
            f"INSERT INTO {schema_sql}.projection_live (name, generation) VALUES ($1, 1)", projection.name
        )
        return 1


async def upgrade_generation(
    conn: asyncpg.Connection, schema_sql: str, projection: Projection, generation: int
) -> None:
    """Bring a generation created by an older release up to date (``Projection.upgrade_sql``).

    A generation without the ``parked_index`` column gets it (and nullable data
    columns), and its views are re-pointed so ``SELECT *`` shows the new column.
    """
    sql = projection.upgrade_sql(schema_sql, generation)
    if not sql:
        return
    missing = await conn.fetchval(
        "SELECT count(*) FROM unnest($1::text[]) AS t(name) WHERE NOT EXISTS (SELECT 1 FROM pg_attribute "
        "WHERE attrelid = to_regclass(t.name) AND attname = 'parked_index' AND NOT attisdropped)",
        [table(schema_sql, t, generation) for t in projection.tables],
    )
    if missing:
        await run_ddl(conn, schema_sql, f"{sql};{projection.view_sql(schema_sql, generation)}")


async def create_generation(
    conn: asyncpg.Connection, schema_sql: str, projection: Projection, generation: int, *, with_indexes: bool
) -> None:
    """Create a generation's tables (and indexes) and its empty state row."""
    await conn.execute(projection.create_sql(schema_sql, generation))
    if with_indexes:
        await conn.execute(projection.index_sql(schema_sql, generation))
    await conn.execute(
        f"INSERT INTO {schema_sql}.projection_state (name, generation) VALUES ($1, $2)",
        projection.name,
        generation,
    )


async def live_generation(conn: asyncpg.Connection, schema_sql: str, name: str, *, lock: bool) -> int:
    """The live generation of ``name`` (``FOR SHARE`` inside a batch when ``lock``)."""
    suffix = " FOR SHARE" if lock else ""
    value = await conn.fetchval(
        f"SELECT generation FROM {schema_sql}.projection_live WHERE name = $1{suffix}", name
    )
    if value is None:
        raise LookupError(f"projection {name} is not initialised")
    return int(value)


async def load_position(
    conn: asyncpg.Connection, schema_sql: str, name: str, generation: int, *, lock: bool = False
) -> Position:
    """The stored position of one generation (locked ``FOR UPDATE`` when ``lock``)."""
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        f"SELECT log_index, checkpoint_size, updated_at FROM {schema_sql}.projection_state "
        f"WHERE name = $1 AND generation = $2{suffix}",
        name,
        generation,
    )
    position = Position(generation)
    if row is not None:
        position.log_index, position.checkpoint_size = row["log_index"], row["checkpoint_size"]
        position.updated_at = row["updated_at"]
    for r in await conn.fetch(
        f"SELECT topic, partition, next_offset FROM {schema_sql}.projection_offsets "
        "WHERE name = $1 AND generation = $2",
        name,
        generation,
    ):
        position.offsets[(r["topic"], r["partition"])] = r["next_offset"]
    return position


async def save_position(conn: asyncpg.Connection, schema_sql: str, name: str, position: Position) -> None:
    """Store ``position`` (call inside the transaction that wrote the view rows)."""
    await conn.execute(
        f"UPDATE {schema_sql}.projection_state SET log_index = $3, checkpoint_size = $4, updated_at = now() "
        "WHERE name = $1 AND generation = $2",
        name,
        position.generation,
        position.log_index,
        position.checkpoint_size,
    )
    await conn.executemany(
        f"INSERT INTO {schema_sql}.projection_offsets (name, generation, topic, partition, next_offset) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name, generation, topic, partition) "
        "DO UPDATE SET next_offset = EXCLUDED.next_offset",
        [(name, position.generation, t, p, o) for (t, p), o in position.offsets.items()],
    )
