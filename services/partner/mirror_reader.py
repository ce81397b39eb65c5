"""Reading the mirror's records in chunks and handing each chunk's per-record work to the workers.

A reader task reads up to ``chunk`` messages at a time, shows the verifier any
key a chunk announces, and submits the chunk to the verifier's
:class:`~certlife.services.partner.parallel.WorkerPool` (the one ``certverify
log`` uses) as :func:`~certlife.services.partner.mirror_work.prepare_chunk`,
awaited as an asyncio future; the dispatched chunks wait in a bounded queue,
in log order, for the sequential checks, so reading overlaps checking.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from certlife.contracts.verification import LogVerifier
from certlife.services.partner.mirror_work import Prepared, prepare_chunk
from certlife.services.partner.parallel import WorkerPool

if TYPE_CHECKING:
    from certlife.services.partner.mirror_sources import TopicReader
    from certlife.services.partner.mirror_tiles import TilesRecords

#: A dispatched chunk: its messages and the future of their facts and outcomes.
InFlight = tuple[Sequence[bytes], "asyncio.Future[Prepared]"]
#: What the reader task queues: a chunk, the error that stopped it, or None at the end.
Queued = InFlight | BaseException | None


class ChunkReader:
    """Reads records from ``position`` on and dispatches them in chunks to ``pool``."""

    def __init__(self, pool: WorkerPool, verifier: LogVerifier, chunk: int) -> None:
        """Dispatch up to ``chunk`` messages per unit of work, with ``verifier``'s keys and origin."""
        self.pool, self.verifier, self.chunk = pool, verifier, chunk
        #: Index of the next record to dispatch.
        self.position = 0
        #: Messages read but never checked (a run stopped while they waited).
        self.unchecked = 0

    @contextlib.asynccontextmanager
    async def reading(
        self, records: TopicReader | TilesRecords, end: int
    ) -> AsyncIterator[asyncio.Queue[Queued]]:
        """The queue of dispatched chunks up to ``end``, filled by a reader task while the caller checks."""
        depth = 2 * self.pool.jobs + 2 if self.pool.parallel else 1
        chunks: asyncio.Queue[Queued] = asyncio.Queue(depth)
        reader = asyncio.create_task(self._read(records, end, chunks))
        try:
            yield chunks
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            while not chunks.empty():  # stopped early: these were read, not checked
                item = chunks.get_nowait()
                if isinstance(item, tuple):
                    self.unchecked += len(item[0])

    async def _read(
        self, records: TopicReader | TilesRecords, end: int, chunks: asyncio.Queue[Queued]
    ) -> None:
        """Read messages up to ``end`` and dispatch them in chunks."""
        try:
            while raws := await records.take(self.chunk, end):
                await chunks.put(self.dispatch(raws))
        except Exception as exc:  # raised where the chunks are consumed
            await chunks.put(exc)
        else:
            await chunks.put(None)

    def dispatch(self, raws: Sequence[bytes]) -> InFlight:
        """Send a chunk to the workers (after showing the verifier any key it announces)."""
        verifier = self.verifier
        for raw in raws:
            verifier.announce(raw)
        chunk = (self.position, raws, verifier.directory, verifier.check_all, verifier.origin)
        self.position += len(raws)
        return raws, asyncio.wrap_future(self.pool.submit(prepare_chunk, chunk))
