"""Rebuild a projection into a fresh generation from offset 0, then swap it in.

1. Take the projection's rebuild lock (one rebuild at a time) and drop any
   generation a crashed rebuild left behind.
2. Create ``<table>_g<N+1>`` without secondary indexes; read the log and
   checkpoint topics from offset 0 to their end, writing chunks with COPY (one
   transaction per chunk, with the generation's position). The live generation
   keeps answering and the live consumer keeps writing it meanwhile.
3. Create the indexes.
4. One transaction: lock ``projection_live`` (live batches wait), read the
   tail that arrived since step 2, point ``projection_live`` and the views at the
   new generation, drop the old tables. Readers see the old or the new copy,
   never a mix; the live consumer's next batch finds the new generation and
   its position (its duplicates are dropped by the index guard).

Records that cannot be applied are parked into the new generation exactly as
the live consumer parks them (``certlife.projections.parking``): a rebuild is also how
parked records are tried again once the cause is fixed.

The caller hands in the PostgreSQL session (and closes it) and the consumer
factory of its Kafka connector; the rebuild opens nothing by endpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from aiokafka import TopicPartition

from certlife.projections.apply import write_with_parking
from certlife.projections.base import Projection
from certlife.projections.batch import Message, select_new
from certlife.projections.committed import OpenConsumer
from certlife.projections.config import ProjectionConfig
from certlife.projections.errors import RebuildBusy
from certlife.projections.registry import projection as find_projection
from certlife.projections.tracking import (
    Position,
    create_generation,
    create_tracking,
    ensure_projection,
    live_generation,
    save_position,
)


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did."""

    name: str
    old_generation: int
    generation: int
    log_index: int
    records: int
    bulk_seconds: float
    swap_seconds: float
    #: Records the new generation parked.
    parked: int = 0


class _Reader:
    """aiokafka consumer over every partition of the log and checkpoint topics."""

    def __init__(self, config: ProjectionConfig, open_consumer: OpenConsumer, chunk: int) -> None:
        self.config = config
        self.chunk = chunk
        self.consumer = open_consumer(auto_offset_reset="earliest")
        self.tps: list[TopicPartition] = []

    async def start(self) -> None:
        await self.consumer.start()
        for topic in (self.config.log_topic, self.config.checkpoints_topic):
            partitions = self.consumer.partitions_for_topic(topic) or {0}
            self.tps += [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.tps)
        for tp in self.tps:
            self.consumer.seek(tp, 0)

    async def chunks(self) -> list[list[Message]]:
        """Everything up to the current end offsets, in chunks."""
        end = await self.consumer.end_offsets(self.tps)
        out: list[list[Message]] = []
        while any([await self.consumer.position(tp) < end[tp] for tp in self.tps]):
            fetched = await self.consumer.getmany(*self.tps, timeout_ms=1000, max_records=self.chunk)
            messages = [
                Message(r.topic, r.partition, r.offset, r.value)
                for batch in fetched.values()
                for r in batch
                if r.value is not None
            ]
            if messages:
                out.append(messages)
            if sum(len(m) for m in out) >= self.chunk:
                break
        return out

    async def stop(self) -> None:
        await self.consumer.stop()


async def rebuild(
    config: ProjectionConfig,
    name: str,
    conn: asyncpg.Connection,
    open_consumer: OpenConsumer,
    *,
    chunk: int = 20000,
) -> RebuildResult:
    """Rebuild projection ``name`` into a new generation and swap it in atomically.

    ``conn`` takes the rebuild lock (released before returning; the caller closes
    the session); ``open_consumer`` opens the reader of the log and checkpoint topics.
    """
    projection = find_projection(name)
    s = config.schema_sql
    reader = _Reader(config, open_consumer, chunk)
    lock_key = f"rebuild:{s}.{name}"
    try:
        await create_tracking(conn, s)
        await ensure_projection(conn, s, projection)
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock_key):
            raise RebuildBusy(f"a rebuild of {name} is already running")
        old = await live_generation(conn, s, name, lock=False)
        await _drop_stale(conn, s, projection, old)
        generation = (
            int(
                await conn.fetchval(f"SELECT max(generation) FROM {s}.projection_state WHERE name = $1", name)
            )
            + 1
        )
        async with conn.transaction():
            await create_generation(conn, s, projection, generation, with_indexes=False)
        await reader.start()
        started = time.perf_counter()
        position, records, parked = await _bulk(conn, config, projection, reader, Position(generation))
        await conn.execute(projection.index_sql(s, generation))
        bulk_seconds = time.perf_counter() - started
        position, tail, tail_parked = await _swap(conn, config, projection, reader, position, old)
        return RebuildResult(
            name,
            old,
            generation,
            position.log_index,
            records + tail,
            bulk_seconds,
            time.perf_counter() - started - bulk_seconds,
            parked + tail_parked,
        )
    finally:
        await reader.stop()
        await conn.execute("SELECT pg_advisory_unlock_all()")


async def _bulk(
    conn: asyncpg.Connection,
    config: ProjectionConfig,
    projection: Projection,
    reader: _Reader,
    position: Position,
) -> tuple[Position, int, int]:
    count = parked_count = 0
    while chunks := await reader.chunks():
        messages = [m for c in chunks for m in c]
        records, parked, new = select_new(messages, position, config.log_topic, config.checkpoints_topic)
        async with conn.transaction():
            stored = await write_with_parking(
                conn, config, projection, position.generation, records, parked, bulk=True
            )
            await save_position(conn, config.schema_sql, projection.name, new)
        position, count, parked_count = new, count + len(records), parked_count + len(stored)
    return position, count, parked_count


async def _swap(
    conn: asyncpg.Connection,
    config: ProjectionConfig,
    projection: Projection,
    reader: _Reader,
    position: Position,
    old: int,
) -> tuple[Position, int, int]:
    s, count, parked_count = config.schema_sql, 0, 0
    async with conn.transaction():
        await conn.execute(f"SELECT 1 FROM {s}.projection_live WHERE name = $1 FOR UPDATE", projection.name)
        while chunks := await reader.chunks():
            messages = [m for c in chunks for m in c]
            records, parked, position = select_new(
                messages, position, config.log_topic, config.checkpoints_topic
            )
            stored = await write_with_parking(conn, config, projection, position.generation, records, parked)
            count, parked_count = count + len(records), parked_count + len(stored)
        await save_position(conn, s, projection.name, position)
        await conn.execute(
            f"UPDATE {s}.projection_live SET generation = $2 WHERE name = $1",
            projection.name,
            position.generation,
        )
        await conn.execute(projection.view_sql(s, position.generation))
        await _drop_generation(conn, s, projection, old)
    return position, count, parked_count


async def _drop_stale(conn: asyncpg.Connection, s: str, projection: Projection, live: int) -> None:
    stale = await conn.fetch(
        f"SELECT generation FROM {s}.projection_state WHERE name = $1 AND generation <> $2",
        projection.name,
        live,
    )
    for row in stale:
        async with conn.transaction():
            await _drop_generation(conn, s, projection, row["generation"])


async def _drop_generation(conn: asyncpg.Connection, s: str, projection: Projection, generation: int) -> None:
    await conn.execute(projection.drop_sql(s, generation))
    for t in ("projection_state", "projection_offsets", "projection_parked"):
        await conn.execute(
            f"DELETE FROM {s}.{t} WHERE name = $1 AND generation = $2", projection.name, generation
        )
