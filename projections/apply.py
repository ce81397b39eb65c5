"""Apply one consumed batch: view rows, parked records and position in one PostgreSQL transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg

from certlife.contracts.records import Record
from certlife.projections.ahead import NOTHING, Ahead, Rows
from certlife.projections.base import Projection
from certlife.projections.batch import Message, Read, read_messages, select_read
from certlife.projections.config import ProjectionConfig
from certlife.projections.parked import store_parked
from certlife.projections.parking import PARKABLE_ERRORS, Parked
from certlife.projections.savepoints import write_or_park
from certlife.projections.tracking import (
    Position,
    live_generation,
    load_position,
    lock_live_positions,
    save_positions,
)

BeforeCommit = Callable[[], Awaitable[None]]
#: What a failed COPY of a chunk raises when a record's values are refused (COPY encodes
#: values client-side, so a value of the wrong type is a TypeError there).
_COPY_REFUSED: tuple[type[Exception], ...] = (*PARKABLE_ERRORS, TypeError)


@dataclass(frozen=True)
class BatchResult:
    """What a committed batch did: the stored position and the records parked for the first time."""

    position: Position
    parked: list[Parked] = field(default_factory=list)


async def write_with_parking(
    conn: asyncpg.Connection,
    config: ProjectionConfig,
    projection: Projection,
    generation: int,
    records: Sequence[Record],
    parked: Sequence[Parked],
    *,
    bulk: bool = False,
    ready: Rows | None = None,
) -> list[Parked]:
    """Write ``records`` to ``generation`` and park ``parked`` plus whatever PostgreSQL refuses.

    Call inside the batch's transaction. Every parking is kept in
    ``projection_parked`` and marks its certificate unavailable; returns the
    parkings kept for the first time (a redelivered batch returns none).
    With ``bulk`` (a rebuild) the records are first COPYed in one savepoint;
    if that fails they are written as a live batch would be, parking included.
    With ``ready`` (rows prepared ahead from exactly ``records``, ``certlife.projections.ahead``)
    the whole batch's first write uses them instead of mapping ``records`` again
    (``Projection.write_rows``: the caller has run the projection's ``session_sql``).
    """
    s, issuer = config.schema_sql, config.issuer

    async def write_live(part: Sequence[Record]) -> None:
        if ready is not None and part is records:
            if ready.rows:
                await projection.write_rows(conn, s, generation, ready.rows)
        else:
            await projection.write_live(conn, s, generation, part, issuer)

    if bulk and await _copied(conn, config, projection, generation, records):
        refused: list[Parked] = []
    else:
        refused = await write_or_park(conn, write_live, records)
    every = [*parked, *refused]
    if not every:
        return []
    first_time = await store_parked(conn, s, projection.name, generation, every)
    await projection.mark_unavailable(conn, s, generation, every, issuer)
    return first_time


async def _copied(
    conn: asyncpg.Connection,
    config: ProjectionConfig,
    projection: Projection,
    generation: int,
    records: Sequence[Record],
) -> bool:
    """COPY ``records`` in a savepoint; False (nothing written) when a record's values are refused."""
    try:
        async with conn.transaction():
            await projection.write_bulk(conn, config.schema_sql, generation, records, config.issuer)
    except _COPY_REFUSED:
        return False
    return True


async def apply_batch(
    conn: asyncpg.Connection,
    config: ProjectionConfig,
    projection: Projection,
    messages: Sequence[Message],
    before_commit: BeforeCommit | None = None,
) -> BatchResult:
    """Write what is new in ``messages`` to the live generation; return the stored position."""
    reads = read_messages(messages, config.log_topic, config.checkpoints_topic)
    return (await apply_reads(conn, config, [projection], reads, before_commit))[projection.name]


async def apply_reads(
    conn: asyncpg.Connection,
    config: ProjectionConfig,
    projections: Sequence[Projection],
    reads: Sequence[Read],
    before_commit: BeforeCommit | None = None,
    ahead: Ahead = NOTHING,
) -> dict[str, BatchResult]:
    """Apply a batch, read once (``batch.read_messages``), to every projection in one transaction.

    Each projection takes what is new to it after its own stored position,
    writes it to its live generation and stores its new position, all before
    the one COMMIT (a redelivered batch is harmless). Rows prepared ``ahead``
    (``certlife.projections.ahead``) are used where they fit the selection.

    The COMMIT does not wait for its WAL flush (``synchronous_commit`` off for
    this transaction only; a flush costs milliseconds per batch). A read model
    is a replay of the log, so a server crash that loses the newest batches
    only moves the stored positions back with their rows, and the consumer
    applies those records again: nothing is lost or applied twice.
    """
    s = config.schema_sql
    results: dict[str, BatchResult] = {}
    setup = ["SET LOCAL synchronous_commit TO off", *(p.session_sql() for p in projections)]
    async with conn.transaction():
        await conn.execute(";".join(sql for sql in setup if sql))  # one round trip
        positions = await lock_live_positions(conn, s, [p.name for p in projections])
        for projection in projections:
            position = positions[projection.name]
            records, parked, new = select_read(reads, position)
            first_time = await write_with_parking(
                conn,
                config,
                projection,
                position.generation,
                records,
                parked,
                ready=ahead.rows_for(projection.name, records),
            )
            results[projection.name] = BatchResult(new, first_time)
        await save_positions(conn, s, {name: result.position for name, result in results.items()})
        if before_commit is not None:
            await before_commit()
    return results


async def stored_offsets(
    conn: asyncpg.Connection, config: ProjectionConfig, projection: Projection
) -> dict[tuple[str, int], int]:
    """The live generation's next offsets (where a newly assigned partition resumes)."""
    generation = await live_generation(conn, config.schema_sql, projection.name, lock=False)
    return (await load_position(conn, config.schema_sql, projection.name, generation)).offsets
