"""Delete the Kafka topics a test session created, so the shared broker does not pile them up.

Every test makes its own topics (unique prefixes) and none deletes them. A
broker that keeps thousands of partitions spends CPU on them all the time
(measured: about 15,600 leftover partitions cost the dev broker a quarter of a
core, idle), which slows every later test and benchmark on the machine.

The session lists the broker's topics when it starts and, when it ends,
deletes those created since -- but only if no other test session is running
on the machine (each session holds a shared lock on one file for its whole
run, and deletes only if it then gets the lock alone): a concurrent session's
topics are never deleted under it. The default deployment's topics (no
prefix: ``certlife.*``) and Kafka's internal ones (``__*``) are never deleted.

``python -m tests.topic_cleanup`` deletes every prefixed topic of the local
stack when no test session is running (the leftovers of earlier runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from aiokafka.admin import AIOKafkaAdminClient

from certlife.services.infra.kafka_access import KafkaAccess

#: The lock file every test session holds (shared), under the stack's CERTLIFE_HOME.
LOCK_NAME = "test-sessions.lock"

#: Topics deleted per request (a request naming thousands would time out).
_CHUNK = 500


def lock_path() -> Path:
    """The lock file of the local stack's test sessions (under its ``CERTLIFE_HOME``)."""
    from certlife.services.infra.stack import StackSettings

    return StackSettings.from_env().home / LOCK_NAME


def deletable(names: Iterable[str]) -> list[str]:
    """The names among ``names`` a cleanup may delete: not internal, not the default deployment's."""
    return sorted(n for n in names if not n.startswith("__") and not n.startswith("certlife."))


async def list_topics(access: KafkaAccess) -> set[str]:
    """Every topic on the broker."""
    admin = AIOKafkaAdminClient(**access.client_options())
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def delete_topics(access: KafkaAccess, names: list[str]) -> int:
    """Delete ``names`` (in chunks); how many the broker accepted to delete."""
    admin = AIOKafkaAdminClient(**access.client_options(), request_timeout_ms=120_000)
    await admin.start()
    deleted = 0
    try:
        for start in range(0, len(names), _CHUNK):
            chunk = names[start : start + _CHUNK]
            response = await admin.delete_topics(chunk, timeout_ms=120_000)
            deleted += sum(1 for _, code, *_ in response.topic_error_codes if code == 0)
    finally:
        await admin.close()
    return deleted


def _alone(handle: IO[str]) -> bool:
    """Take the lock file exclusively, without waiting: False while another session holds it."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def cleaned_session(access: KafkaAccess, lock: Path) -> Iterator[None]:
    """The block is a test session: afterwards, delete the topics it created if no other session runs."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        before = asyncio.run(list_topics(access))
        yield
        if _alone(handle):
            try:
                created = deletable(asyncio.run(list_topics(access)) - before)
                if created:
                    asyncio.run(delete_topics(access, created))
            except Exception as exc:  # housekeeping: the session's result stands
                print(f"\ntests: this session's topics were not deleted: {exc!r}", file=sys.stderr)


def main() -> int:
    """Delete the local stack's prefixed topics, if no test session runs."""
    from tests.kafka import admin

    lock = lock_path()
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        if not _alone(handle):
            print("a test session is running: nothing deleted", file=sys.stderr)
            return 1
        access = admin()
        names = deletable(asyncio.run(list_topics(access)))
        print(f"deleting {len(names)} topics ...", flush=True)
        print(f"deleted {asyncio.run(delete_topics(access, names))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
