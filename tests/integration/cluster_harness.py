"""A 3-node KRaft cluster for one test session, and what the cluster tests read from it.

The cluster runs on its own ports (clients 9392-9394, controllers 9395-9397) and in
its own folder (``$CERTLIFE_HOME/stack-cluster-9392``), started by the project's
launcher exactly as ``certctl stack up --brokers 3`` starts one; the single-broker
stack and its folder are never touched. It shares the single stack's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from certlife.services.chaos import replication
from certlife.services.infra import stack
from certlife.services.infra.stack import StackSettings, cluster
from certlife.services.infra.stack.kafka import admin_access
from certlife.services.infra.stack.procs import port_open

#: First client ports a test cluster may take (its nodes: this and the next two; controllers after).
#: Two test sessions at once (two people's ``./dev test``) each take the first one free.
TEST_PORTS = range(9392, 9992, 100)
ISSUER = "certlife.example"


def cluster_settings(port: int) -> StackSettings:
    """A three-node cluster's settings with client ports from ``port``."""
    env = {k: v for k, v in os.environ.items() if k != "CERTLIFE_KAFKA_CONTROLLER_PORT"}
    env |= {"CERTLIFE_KAFKA_BROKERS": "3", "CERTLIFE_KAFKA_PORT": str(port)}
    return StackSettings.from_env(env)


@contextlib.contextmanager
def _claimed() -> Iterator[StackSettings]:
    """The settings of the first test cluster slot that no other session holds and whose ports are free."""
    import fcntl

    for port in TEST_PORTS:
        settings = cluster_settings(port)
        settings.home.mkdir(parents=True, exist_ok=True)
        with open(settings.home / f"stack-cluster-{port}.test-lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            ports = settings.client_ports + settings.controller_ports
            if cluster.running(settings) or any(port_open(p) for p in ports):
                continue  # a cluster left over by a killed session, or someone else's ports
            yield settings
            return
    raise stack.StackError(f"no free ports for a test cluster (tried first ports {list(TEST_PORTS)})")


def run_cluster() -> Iterator[tuple[StackSettings, float]]:
    """Start a fresh test cluster with the launcher; yield it and its start time (s); stop it and
    drop its folder."""
    with _claimed() as settings:
        shutil.rmtree(settings.state, ignore_errors=True)  # no data of an older run
        started = time.monotonic()
        try:
            stack.up(settings, prefix="")
            yield settings, time.monotonic() - started
        finally:
            stack.down(settings)
            shutil.rmtree(settings.state, ignore_errors=True)


def client(settings: StackSettings) -> dict[str, Any]:
    """aiokafka options of the cluster's admin (PLAIN over TLS, like the single broker's)."""
    return admin_access(settings).client_options()


async def describe(settings: StackSettings, topics: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Partitions (leader, replicas, isr) and ``min.insync.replicas`` of each topic."""
    return await replication.describe(client(settings), topics)


async def leader_of(settings: StackSettings, topic: str) -> int:
    """The node leading partition 0 of ``topic`` (-1: none now)."""
    return int((await describe(settings, [topic]))[topic][0]["leader"])


def commands(count: int, resend_every: int = 10) -> list[tuple[bytes, bytes]]:
    """(key, value) of issue, suspend and reinstate for ``count`` certificates, every
    ``resend_every``-th message sent twice (an exact re-send must get the original outcome)."""
    year = datetime.now(UTC).year
    issue = {
        "scheme": "CCC",
        "holder": "Volt Mobility Co., Ltd.",
        "manufacturer": "Volt Mobility",
        "factories": ["Hefei plant 1"],
        "product": "Traction battery pack",
        "models": ["VB-75"],
        "standards": ["GB 38031-2025"],
        "scope": "Lithium-ion traction battery packs",
        "validFrom": f"{year - 1}-01-01T00:00:00Z",
        "validUntil": f"{year + 3}-01-01T00:00:00Z",
    }
    rounds: list[tuple[str, dict[str, Any]]] = [
        ("issue", issue),
        ("suspend", {"reason": "surveillance audit overdue"}),
        ("reinstate", {}),
    ]
    out: list[tuple[bytes, bytes]] = []
    for kind, extra in rounds:
        for i in range(count):
            number = f"KC-{i:05d}"
            body = {"type": kind, "commandId": f"{kind}-{i}", "issuer": ISSUER, "number": number, **extra}
            out.append((number.encode(), json.dumps(body).encode()))
            if len(out) % resend_every == 0:
                out.append(out[-1])
    return out


@dataclass
class Watcher:
    """Reads a topic (read committed) in the background, noting when each record arrived."""

    settings: StackSettings
    topic: str
    records: list[tuple[float, int, bytes | None, bytes]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        consumer = AIOKafkaConsumer(
            self.topic,
            **client(self.settings),
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=1000,
        )
        await consumer.start()
        self._task = asyncio.create_task(self._run(consumer))
        return self

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                now = time.monotonic()
                for records in batches.values():
                    self.records += [(now, r.offset, r.key, r.value) for r in records if r.value is not None]
        finally:
            await consumer.stop()

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def first_at_or_after(self, offset: int) -> float | None:
        """When the first record at ``offset`` or later arrived (None: not yet)."""
        return next((t for t, o, _, _ in self.records if o >= offset), None)

    async def until(self, count: int, timeout: float, what: str) -> None:
        """Wait until ``count`` records have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: {len(self.records)} of {count} after {timeout:.0f} s")
            await asyncio.sleep(0.2)


async def committed_end(settings: StackSettings, topic: str) -> int:
    """The last stable offset of partition 0 of ``topic`` (what read-committed readers can reach)."""
    consumer = AIOKafkaConsumer(**client(settings), isolation_level="read_committed")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


def kill_node(settings: StackSettings, node: int) -> None:
    """SIGKILL node ``node`` (no shutdown: as if its machine lost power)."""
    import signal

    pid = cluster.node_pid(settings, node)
    assert pid is not None, f"node {node} is not running"
    os.kill(pid, signal.SIGKILL)
    while cluster.node_pid(settings, node) is not None:
        time.sleep(0.05)
