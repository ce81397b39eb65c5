"""Apply one consumed batch: view rows and position in one PostgreSQL transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from projections.base import Projection
from projections.batch import Message, select_new
from projections.config import ProjectionConfig
from projections.tracking import Position, live_generation, load_position, save_position

BeforeCommit = Callable[[], Awaitable[None]]


async def apply_batch(
    conn: asyncpg.Connection,
    config: ProjectionConfig,
    projection: Projection,
    messages: Sequence[Message],
    before_commit: BeforeCommit | None = None,
) -> Position:
    """Write what is new in ``messages`` to the live generation; return the stored position."""
    s = config.schema_sql
    async with conn.transaction():
        generation = await live_generation(conn, s, projection.name, lock=True)
        position = await load_position(conn, s, projection.name, generation, lock=True)
        records, new = select_new(messages, position, config.log_topic, config.checkpoints_topic)
        await projection.write_live(conn, s, generation, records, config.issuer)
        await save_position(conn, s, projection.name, new)
        if before_commit is not None:
            await before_commit()
    return new


async def stored_offsets(
    conn: asyncpg.Connection, config: ProjectionConfig, projection: Projection
) -> dict[tuple[str, int], int]:
    """The live generation's next offsets (where a newly assigned partition resumes)."""
    generation = await live_generation(conn, config.schema_sql, projection.name, lock=False)
    return (await load_position(conn, config.schema_sql, projection.name, generation)).offsets
