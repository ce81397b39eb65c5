"""``Intake``: the commands consumed while a batch is stored, taken together as the next batch.

aiokafka fetches a partition again only once its buffered records have been
taken, and for their first 100 ms (its ``prefetch_backoff``) nothing at all from
a broker where any of its partitions has records waiting. A consumer that takes a batch and then stores and publishes it before
asking for more therefore gets, as its next batch, only what that one fetch
brought right after the last batch was taken; the commands that reached the
broker later in the cycle wait there for the next fetch and then a whole cycle
in the buffer. So the command service's consumer loop only hands each batch to
an ``Intake`` and asks for more at once (aiokafka keeps fetching), and one worker
takes everything that has arrived, up to the batch size, each time it is free.
What waits for partitions the consumer loses in a rebalance is dropped: they are
consumed again from their committed offsets, and a waiting copy would decide the
same command twice in one batch (one outcome each).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Intake(Generic[T]):
    """Items put by one producer, taken in order and in batches by one consumer.

    :meth:`put` waits while ``limit`` items or more are waiting (backpressure: the
    consumer loop then stops asking Kafka for more), so at most ``limit`` plus one
    put's items are held.
    """

    def __init__(self, limit: int) -> None:
        """Empty; ``limit`` (at least 1) is how many waiting items make :meth:`put` wait."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._items: deque[T] = deque()
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        """How many items wait to be taken."""
        return len(self._items)

    async def put(self, items: Iterable[T]) -> None:
        """Add ``items`` after those already waiting, once fewer than ``limit`` wait."""
        while len(self._items) >= self.limit:
            self._room.clear()
            await self._room.wait()
        self._items.extend(items)
        if self._items:
            self._arrived.set()

    def drop(self, unwanted: Callable[[T], bool]) -> int:
        """Remove the waiting items for which ``unwanted`` is true; returns how many."""
        kept = [item for item in self._items if not unwanted(item)]
        dropped = len(self._items) - len(kept)
        self._items = deque(kept)
        if len(kept) < self.limit:
            self._room.set()
        return dropped

    async def take(self, most: int) -> list[T]:
        """The oldest waiting items, at most ``most`` of them; waits until there is one.

        Cancelling a waiting ``take`` removes nothing.
        """
        if most < 1:
            raise ValueError("most must be at least 1")
        while not self._items:
            self._arrived.clear()
            await self._arrived.wait()
        items = self._items
        batch = [items.popleft() for _ in range(min(most, len(items)))]
        if len(items) < self.limit:
            self._room.set()
        return batch
