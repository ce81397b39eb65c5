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
        s: ServiceProcess(
            s, dict(env, CERTLIFE_DATABASE_URL=_with_app_name(database_url, names[s])), tmp_path
        )
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
        # past the outage without exiting: reconnected by itself (the relay exits by design)
        if victim == "commands" and len(await _outcomes(kafka_bootstrap, prefix)) >= 20:
            break
        if victim == "projections" and await _applied(env, 19):
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


async def _applied(env: dict[str, str], index: int) -> bool:
    try:
        await wait_applied(env, index, 0, timeout=0.5)
    except AssertionError:
        return False
    return True


async def _outcomes(bootstrap: str, prefix: str) -> list[object]:
    try:
        return list(await messages(bootstrap, prefix + topics.COMMAND_RESULTS, 20, timeout=1))
    except TimeoutError:
        return []


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of PostgreSQL, which a test can cut and restore (an outage)."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.port = target_port, 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones, as a dead server does."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


def _lines_between(text: str, start: float, end: float) -> int:
    """Log lines stamped (``YYYY-MM-DD HH:MM:SS,mmm``, UTC) within [start, end] (epoch seconds)."""
    from datetime import datetime

    count = 0
    for line in text.splitlines():
        try:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        count += start <= stamp <= end
    return count


async def test_a_database_outage_under_the_supervisor_is_a_few_lines_and_loses_nothing(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """PostgreSQL gone for 30 s under `certctl serve all` while commands keep coming: the services
    say so in a few lines (once per cause per 30 s, with counts), and afterwards every command has
    exactly one outcome and the read models hold every record."""
    from urllib.parse import urlparse

    proxy = await Proxy(urlparse(database_url).port or 5432).start()
    proxied = database_url.replace(f":{proxy.target_port}/", f":{proxy.port}/")
    prefix = unique_name("dbout") + "."
    env = stack_env(kafka_bootstrap, database_url, pg_schema, prefix, tmp_path / "keys")
    assert certctl(env, "keys", "generate").returncode == 0
    logs = tmp_path / "logs"
    supervisor = ServiceProcess(
        "all", dict(env, CERTLIFE_DATABASE_URL=proxied), tmp_path,
        args=("--only", "commands,relay,projections", "--log-dir", str(logs)),
    ).start()  # fmt: skip
    rounds = lifecycle_commands(0, 20)
    topic, results = prefix + topics.COMMANDS, prefix + topics.COMMAND_RESULTS
    await _send(kafka_bootstrap, topic, rounds[0])
    await messages(kafka_bootstrap, results, 20, timeout=120)
    cut_at = time.time()
    await proxy.cut()
    for body in rounds[1]:  # commands keep coming during the outage
        await _send(kafka_bootstrap, topic, [body])
        await asyncio.sleep(1.5)
    await asyncio.sleep(max(0.0, cut_at + 30 - time.time()))
    back_at = time.time()
    await proxy.start()
    await _send(kafka_bootstrap, topic, rounds[0][:5])  # exact re-sends: the original outcomes again
    found = await messages(kafka_bootstrap, results, 45, timeout=180)
    recovered = time.time() - back_at
    await wait_applied(env, 39, 0, timeout=180)
    await asyncio.to_thread(supervisor.stop)  # the proxy runs on this loop: keep it serving meanwhile
    per_command: dict[bytes, set[bytes]] = {}
    for value, headers in found:
        per_command.setdefault(headers["certlife-command-id"], set()).add(value)
    assert len(per_command) == 40 and all(len(v) == 1 for v in per_command.values())
    during = {
        name: _lines_between((logs / f"{name}.log").read_text(errors="replace"), cut_at, back_at)
        for name in SERVICES
    }
    texts = {name: (logs / f"{name}.log").read_text(errors="replace") for name in SERVICES}
    print(f"\nlog lines during the 30 s outage: {during}; all outcomes {recovered:.1f} s after it ended")
    assert sum(during.values()) < 150, {n: t[-2000:] for n, t in texts.items()}
    for name, text in texts.items():
        assert "Traceback" not in text, (name, text[-3000:])
    # The command service lost its lock session and exited; its restart (the warm spare) waited for
    # PostgreSQL instead of exiting again, so the supervisor never saw a crash loop.
    assert "waiting for the endpoint to come back: cannot connect to PostgreSQL" in texts["commands"]
    supervised = (tmp_path / "all.log").read_text(errors="replace")
    assert "commands exited" in supervised and "cannot start" not in supervised, supervised[-3000:]
    for name in SERVICES:  # and SIGTERM stopped each cleanly afterwards
        assert f"stopped {name} (exit status 0)" in supervised, supervised[-3000:]
