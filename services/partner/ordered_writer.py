"""Apply work items in order in a task of its own, with a bounded queue in front of it.

The partner mirror hands each checkpoint's records to an :class:`OrderedWriter`
and goes on verifying while PostgreSQL writes them: one transaction per item,
in the order given. At most ``depth`` items wait; :meth:`OrderedWriter.put`
waits for room. An error of the writer surfaces at the next ``put`` or at
:meth:`OrderedWriter.close`; :meth:`OrderedWriter.cancel` abandons what is
queued (a transaction in progress is rolled back by its own context).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class OrderedWriter(Generic[T]):
    """Runs ``apply(item)`` for every item put, one after another, in a background task."""

    def __init__(self, apply: Callable[[T], Awaitable[None]], depth: int = 8) -> None:
        """Start the task (needs a running event loop)."""
        self._apply = apply
        self._queue: asyncio.Queue[tuple[T] | None] = asyncio.Queue(depth)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            await self._apply(item[0])

    async def _offer(self, item: tuple[T] | None) -> None:
        put = asyncio.ensure_future(self._queue.put(item))
        await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            put.cancel()
            self._task.result()  # the writer's error
            raise RuntimeError("the writer stopped before it was closed")

    async def put(self, item: T) -> None:
        """Queue ``item`` (waits while ``depth`` items are queued); raise the writer's error if it failed."""
        await self._offer((item,))

    async def close(self) -> None:
        """Wait until every queued item is applied; raise the writer's error if it failed."""
        if not self._task.done():
            with contextlib.suppress(RuntimeError):  # the writer may finish while we queue the end
                await self._offer(None)
        await self._task

    async def cancel(self) -> None:
        """Stop at once; queued items are not applied."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
