"""At most one batch in flight: the next batch is read while the current one is written.

A batch's PostgreSQL work (its statements and COMMIT) leaves the process idle;
reading (parsing) the next batch meanwhile overlaps the two. Batches are still
applied one at a time and in consumption order: the next one starts only when
the one in flight is done, so each projection's positions advance as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class InFlight:
    """The batch being applied, as an asyncio task that handles its own failure."""

    def __init__(self) -> None:
        """Nothing in flight."""
        self._task: asyncio.Task[None] | None = None

    async def settle(self) -> None:
        """Wait until the batch in flight (if any) is done (never raises its failure)."""
        task = self._task
        if task is not None:
            await asyncio.wait({task})

    async def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Wait for the batch in flight, then start ``work`` as the next one."""
        await self.settle()
        self._task = asyncio.create_task(work)
