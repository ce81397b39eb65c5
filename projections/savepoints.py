"""Write a batch of records, parking the ones PostgreSQL refuses (savepoints, bisection).

The whole batch is written in one savepoint first, so a clean batch costs
what it always did. When that write fails with one of ``PARKABLE_ERRORS`` the
savepoint is rolled back and each half is tried in its own savepoint,
recursively, down to single records: a record that still fails alone is
parked, every other record is written. ``k`` bad records among ``n`` cost
about ``2·k·log2(n)`` extra writes. Any other error (connection lost, server
shutting down) propagates and the caller's transaction fails as before.

Writing a batch in parts has the same effect as writing it whole, because
every writer is idempotent and guarded by the log index (a redelivered or
split batch converges to the same rows).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from certlife.contracts.records import Record
from certlife.projections.parking import PARKABLE_ERRORS, Parked, refused_parked

#: Writes some records (inside the caller's transaction).
Write = Callable[[Sequence[Record]], Awaitable[None]]


async def write_or_park(conn: asyncpg.Connection, write: Write, records: Sequence[Record]) -> list[Parked]:
    """Write ``records`` with ``write``; return the parkings of those that cannot be written."""
    if not records:
        return []
    try:
        async with conn.transaction():  # a savepoint inside the batch's transaction
            await write(records)
        return []
    except PARKABLE_ERRORS as error:
        if len(records) == 1:
            return [refused_parked(records[0], error)]
    middle = len(records) // 2
    return await write_or_park(conn, write, records[:middle]) + await write_or_park(
        conn, write, records[middle:]
    )
