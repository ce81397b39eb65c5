"""Where each projection generation is: stored offsets, last log index, newest checkpoint.

``projection_live`` points each projection at its live generation; a batch
holds that row ``FOR SHARE`` and its generation's ``projection_state`` row
``FOR UPDATE``, so batches of one projection are serialised and a rebuild's
swap (which updates ``projection_live``) waits for the batch in flight.
``projection_parked`` (``certlife.projections.parked``) lists the records each
generation parked.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    return (await _load_positions(conn, schema_sql, {name: generation}, lock=lock))[name]


async def lock_live_positions(
    conn: asyncpg.Connection, schema_sql: str, names: Sequence[str]
) -> dict[str, Position]:
    """The positions of the live generations of ``names``, locked for one batch (two round trips).

    Takes each ``projection_live`` row ``FOR SHARE`` (a rebuild's swap waits for the
    batch), then each live ``projection_state`` row ``FOR UPDATE`` (batches of a
    projection are serialised); call inside the batch's transaction.
    """
    rows = await conn.fetch(
        f"SELECT name, generation FROM {schema_sql}.projection_live WHERE name = ANY($1::text[]) "
        "ORDER BY name FOR SHARE",
        list(names),
    )
    live = {r["name"]: int(r["generation"]) for r in rows}
    missing = [n for n in names if n not in live]
    if missing:
        raise LookupError(f"projection {missing[0]} is not initialised")
    return await _load_positions(conn, schema_sql, live, lock=True)


async def _load_positions(
    conn: asyncpg.Connection, schema_sql: str, generations: dict[str, int], *, lock: bool
) -> dict[str, Position]:
    """Position of each (name, generation) in one query (state rows ``FOR UPDATE`` when ``lock``)."""
    join, suffix = ("JOIN", " ORDER BY s.name FOR UPDATE OF s") if lock else ("LEFT JOIN", "")
    rows = await conn.fetch(
        f"SELECT w.name, s.log_index, s.checkpoint_size, s.updated_at, ARRAY("
        f"SELECT ROW(o.topic, o.partition, o.next_offset) FROM {schema_sql}.projection_offsets o "
        "WHERE o.name = w.name AND o.generation = w.generation) AS offsets "
        "FROM unnest($1::text[], $2::int[]) AS w(name, generation) "
        f"{join} {schema_sql}.projection_state s USING (name, generation){suffix}",
        list(generations),
        list(generations.values()),
    )
    positions = {name: Position(generation) for name, generation in generations.items()}
    for row in rows:
        position = positions[row["name"]]
        if row["log_index"] is not None:
            position.log_index, position.checkpoint_size = row["log_index"], row["checkpoint_size"]
            position.updated_at = row["updated_at"]
        position.offsets = {(t, p): o for t, p, o in row["offsets"]}
    return positions


async def save_position(conn: asyncpg.Connection, schema_sql: str, name: str, position: Position) -> None:
    """Store ``position`` in one statement (call inside the transaction that wrote the view rows)."""
    await save_positions(conn, schema_sql, {name: position})


async def save_positions(conn: asyncpg.Connection, schema_sql: str, positions: dict[str, Position]) -> None:
    """Store each projection's ``positions[name]``, all in one statement (inside the batch's transaction)."""
    names = list(positions)
    offsets = [
        (name, p.generation, t, part, o)
        for name, p in positions.items()
        for (t, part), o in p.offsets.items()
    ]
    await conn.execute(
        f"WITH state AS (UPDATE {schema_sql}.projection_state s "
        "SET log_index = u.log_index, checkpoint_size = u.checkpoint_size, updated_at = now() "
        "FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) "
        "AS u(name, generation, log_index, checkpoint_size) "
        "WHERE s.name = u.name AND s.generation = u.generation) "
        f"INSERT INTO {schema_sql}.projection_offsets (name, generation, topic, partition, next_offset) "
        "SELECT * FROM unnest($5::text[], $6::int[], $7::text[], $8::int[], $9::bigint[]) "
        "ON CONFLICT (name, generation, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
        names,
        [positions[n].generation for n in names],
        [positions[n].log_index for n in names],
        [positions[n].checkpoint_size for n in names],
        *([list(column) for column in zip(*offsets, strict=True)] if offsets else [[], [], [], [], []]),
    )
