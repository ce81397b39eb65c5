"""Batches in flight: the next batches are read while the current one is written.

A batch's PostgreSQL work (its statements and COMMIT) leaves the process idle;
reading (parsing) the next batches meanwhile overlaps the two. With a depth of
2 a batch read while the one before it still waits is queued, so the process
goes on reading the one after it instead of waiting for PostgreSQL (measured:
one batch ahead left the process idle about a quarter of the time while it
waited for the batch in flight). Batches are still applied one at a time and
in consumption order: each one starts only when the one before it is done, so
each projection's positions advance as before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine
from typing import Any


class InFlight:
    """The batches started and not yet done (at most ``depth``), as asyncio tasks that handle
    their own failure, each running after the one before it."""

    def __init__(self, depth: int = 1) -> None:
        """Nothing in flight; :meth:`start` waits while ``depth`` batches are."""
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        self._tasks: deque[asyncio.Task[None]] = deque()

    def _forget_done(self) -> None:
        while self._tasks and self._tasks[0].done():
            self._tasks.popleft()

    async def settle(self) -> None:
        """Wait until every batch started is done (never raises their failures)."""
        self._forget_done()
        while self._tasks:
            await asyncio.wait({self._tasks[-1]})  # it ends after every batch before it
            self._forget_done()

    async def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Wait until fewer than ``depth`` batches are in flight, then start ``work`` to run after them."""
        self._forget_done()
        while len(self._tasks) >= self.depth:
            await asyncio.wait({self._tasks[0]})
            self._forget_done()
        before = self._tasks[-1] if self._tasks else None
        self._tasks.append(asyncio.create_task(_after(before, work)))


async def _after(before: asyncio.Task[None] | None, work: Coroutine[Any, Any, None]) -> None:
    if before is not None:
        await asyncio.wait({before})
    await work
