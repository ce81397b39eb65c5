"""Services whose database sessions the server ends: one line naming the cause, never a traceback.

The server ends one service's sessions (``pg_terminate_backend``, as a
PostgreSQL restart or failover does) while commands flow through the command
service, relay and projections. That service either carries on by itself (the
traffic after the cut is handled) or exits with one line naming the cause, for
its supervisor to restart it (and then the traffic is handled after a restart).
No log line of any service holds a traceback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from certlife.contracts import topics
from tests.integration.test_projections import wait_applied
from tests.integration.test_relay import certctl, lifecycle_commands, stack_env
from tests.integration.test_tracing import messages
from tests.kafka import client
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration

SERVICES = ("commands", "relay", "projections")


async def terminate_sessions(database_url: str, application: str) -> int:
    """End every session of ``application`` (its ``application_name``); return how many."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", application
        )
    finally:
        await conn.close()
    return len(rows)


async def _send(bootstrap: str, topic: str, bodies: list[bytes]) -> None:
    producer = AIOKafkaProducer(**client(bootstrap))
    await producer.start()
    try:
        for body in bodies:
            await producer.send_and_wait(topic, body)
    finally:
        await producer.stop()


def _with_app_name(url: str, name: str) -> str:
    return url + ("&" if "?" in url else "?") + "application_name=" + name


@pytest.mark.parametrize("victim", SERVICES)
async def test_ended_sessions_cost_one_line_and_lose_nothing(
    victim: str,
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    prefix = unique_name("outage") + "."
    env = stack_env(kafka_bootstrap, database_url, pg_schema, prefix, tmp_path / "keys")
    assert certctl(env, "keys", "generate").returncode == 0
    names = {s: f"{prefix}{s}" for s in SERVICES}
    procs = {
        s: ServiceProcess(s, dict(env, CERTLIFE_DATABASE_URL=_with_app_name(database_url, names[s])), tmp_path)
        for s in SERVICES
    }
    for process in procs.values():
        process.start()
    procs["commands"].wait_for_log("metrics on http://", 60)
    procs["relay"].wait_for_log("relay active", 60)
    procs["projections"].wait_for_log("projections active", 60)
    rounds = lifecycle_commands(0, 10)
    command_topic = prefix + topics.COMMANDS
    await _send(kafka_bootstrap, command_topic, rounds[0])
    await messages(kafka_bootstrap, prefix + topics.COMMAND_RESULTS, 10)
    await wait_applied(env, 9, 0)

    ended = await terminate_sessions(database_url, names[victim])
    assert ended >= 1
    await _send(kafka_bootstrap, command_topic, rounds[1])
    deadline = time.monotonic() + 30
    victim_process = procs[victim]
    while time.monotonic() < deadline and victim_process.returncode is None:
        if victim == "commands" and len(await _outcomes(kafka_bootstrap, prefix)) >= 20:
            break
        await asyncio.sleep(0.5)
    code = victim_process.returncode
    text = victim_process.log_text()
    if code is not None:  # it exited: with one line naming the cause; a restart carries on
        assert code in (4, 5), text[-2000:]
        last = text.strip().splitlines()[-1]
        assert "PostgreSQL" in last or "database session" in last or "lock" in last, last
        victim_process.start()
    await messages(kafka_bootstrap, prefix + topics.COMMAND_RESULTS, 20, timeout=90)
    await wait_applied(env, 19, 0, timeout=90)
    for process in procs.values():
        assert "Traceback" not in process.log_text(), process.log_text()[-3000:]
    print(f"\n{victim}: ended {ended} sessions; exit {code}")


async def _outcomes(bootstrap: str, prefix: str) -> list[object]:
    try:
        return list(await messages(bootstrap, prefix + topics.COMMAND_RESULTS, 20, timeout=1))
    except TimeoutError:
        return []
