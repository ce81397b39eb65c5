"""The single-active lock of the command service and the relay, on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from certlife.services.infra.leader import lock_key, wait_for_lock, watch_lock

pytestmark = pytest.mark.integration


async def test_second_holder_waits_until_the_first_session_ends(database_url: str) -> None:
    key = lock_key("test", uuid.uuid4().hex)
    first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        never = asyncio.Event()
        assert await wait_for_lock(first, key, never, "first")
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        assert not await wait_for_lock(second, key, stop, "second", poll=0.1)  # stood by, then stopped
        waiting = asyncio.create_task(wait_for_lock(second, key, never, "second", poll=0.1))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await first.close()  # the active instance dies: its session and lock end
        assert await asyncio.wait_for(waiting, 10)
    finally:
        await first.close()
        await second.close()


async def test_losing_the_lock_session_is_reported(database_url: str) -> None:
    key = lock_key("test", uuid.uuid4().hex)
    holder, admin = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    lost: list[str] = []
    try:
        assert await wait_for_lock(holder, key, asyncio.Event(), "holder")
        watcher = asyncio.create_task(watch_lock(holder, lost.append, every=0.1, timeout=5))
        await asyncio.sleep(0.3)
        assert lost == []
        await admin.execute("SELECT pg_terminate_backend($1)", holder.get_server_pid())
        await asyncio.wait_for(watcher, 10)
        assert len(lost) == 1 and "lost the database session" in lost[0]
    finally:
        holder.terminate()
        await admin.close()
