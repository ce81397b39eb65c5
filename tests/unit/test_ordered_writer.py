"""OrderedWriter: items applied one after another, in order; its errors surface; cancel abandons."""

from __future__ import annotations

import asyncio

import pytest

from certlife.services.partner.ordered_writer import OrderedWriter


async def test_items_are_applied_in_order_and_close_waits_for_all() -> None:
    done: list[int] = []

    async def apply(item: int) -> None:
        await asyncio.sleep(0)
        done.append(item)

    writer = OrderedWriter(apply, depth=2)
    for item in range(10):
        await writer.put(item)
    await writer.close()
    assert done == list(range(10))


async def test_an_error_surfaces_at_the_next_put_or_at_close() -> None:
    async def apply(item: int) -> None:
        if item == 2:
            raise ValueError("refused")

    writer = OrderedWriter(apply, depth=1)
    with pytest.raises(ValueError, match="refused"):
        for item in range(100):
            await writer.put(item)
    await writer.cancel()

    writer = OrderedWriter(apply, depth=8)
    with pytest.raises(ValueError, match="refused"):
        for item in range(3):
            await writer.put(item)
        await writer.close()
    await writer.cancel()


async def test_cancel_abandons_what_is_queued() -> None:
    release = asyncio.Event()
    done: list[int] = []

    async def apply(item: int) -> None:
        await release.wait()
        done.append(item)

    writer = OrderedWriter(apply, depth=4)
    for item in range(3):
        await writer.put(item)
    await writer.cancel()
    release.set()
    await asyncio.sleep(0)
    assert done == []
