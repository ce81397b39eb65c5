"""One active process of a kind per event store: a PostgreSQL session advisory lock.

The relay and the command service each hold such a lock while they run; a
second instance stands by until the first one's database session ends (it
stopped, crashed or was killed) and then takes over. Whoever takes over also
re-registers the same Kafka transactional id, which fences the previous
holder's producer, so a paused former holder cannot commit anything either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

#: Errors that mean the lock's database session is gone or unusable.
#: A session that died can also leave the client mid-operation (InternalClientError).
SESSION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


#: Session settings of a lock connection: the server notices a vanished holder (host
#: crash, network cut) within about 25 s instead of the OS default of about two hours.
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


def lock_key(kind: str, schema: str) -> str:
    """The advisory-lock key of the single active ``kind`` process for ``schema``."""
    return f"certlife-{kind}:{schema}"


async def wait_for_lock(
    conn: asyncpg.Connection, key: str, stop: asyncio.Event, what: str, poll: float = 1.0
) -> bool:
    """Take the session lock ``key`` on ``conn``, standing by while another holds it.

    Returns False if ``stop`` is set first; a failed or silent session raises one of
    :data:`SESSION_ERRORS`.
    """
    announced = False
    while not stop.is_set():
        taken = await asyncio.wait_for(conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key), 30)
        if taken:
            if announced:
                log.info("%s: the active instance is gone: taking over", what)
            return True
        if not announced:
            log.info("%s: another instance is active for this event store: standing by", what)
            announced = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll)
    return False


async def watch_lock(
    conn: asyncpg.Connection,
    on_lost: Callable[[str], None],
    every: float = 2.0,
    timeout: float = 10.0,
    *,
    probe: bool = True,
) -> None:
    """Check the lock's session every ``every`` seconds; on failure call ``on_lost`` once and return.

    With ``probe`` (a session only the watcher uses) each check is a ``SELECT 1``; without it (a
    session its holder queries too, where a second query would collide) only whether the
    session has closed is looked at.
    """
    while True:
        await asyncio.sleep(every)
        if not probe:
            if conn.is_closed():
                on_lost("lost the database session that holds the leader lock (it closed)")
                return
            continue
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout)
        except SESSION_ERRORS as exc:
            on_lost(f"lost the database session that holds the leader lock ({type(exc).__name__}: {exc})")
            return
