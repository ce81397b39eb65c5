"""The services on a 3-node KRaft cluster (``certctl stack up --brokers 3``).

One cluster for the session, on its own ports (``cluster_harness``). Shown here:
every certlife topic and the internal logs have three replicas and
``min.insync.replicas=2``; the command service, the relay and the projections run
unchanged (their own principals, the bootstrap list in ``CERTLIFE_KAFKA_BOOTSTRAP``);
and when the broker leading the log partition is SIGKILLed while commands flow,
every message still gets exactly one outcome, the log holds indexes 0..N-1 once,
``certverify log`` over Kafka verifies it, and the read model has every certificate.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from certlife.contracts import topics
from certlife.contracts.trust import TrustFile
from certlife.services.infra import stack
from certlife.services.infra.stack import StackSettings, cluster
from certlife.services.infra.topics import certlife_topics
from tests.integration import cluster_harness as h
from tests.integration.logcheck import check_log
from tests.kafka import admin_env
from tests.procs import ROOT, ServiceProcess

pytestmark = pytest.mark.integration

PASS = "cluster-test-passphrase"
#: Certificates of the flow (each gets issue, suspend, reinstate; every 10th message is re-sent).
CERTIFICATES = 150


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[StackSettings]:
    """Three combined controller+broker nodes, started by the launcher for this session."""
    runner = h.run_cluster()
    try:
        settings, seconds = next(runner)
    except stack.StackError as exc:
        pytest.fail(f"the 3-node Kafka cluster could not start: {exc}", pytrace=False)
    print(f"\n3-node cluster started in {seconds:.1f} s")
    yield settings
    next(runner, None)


@pytest.fixture
def on_cluster(kafka_cluster: StackSettings, monkeypatch: pytest.MonkeyPatch) -> StackSettings:
    """This test's process selects the cluster (tests.kafka's admin, the log checker)."""
    for name, value in kafka_cluster.selection_env().items():
        monkeypatch.setenv(name, value)
    return kafka_cluster


async def _internal_logs_in_use(settings: StackSettings) -> None:
    """One committed transaction and one committed group offset: the broker creates both logs."""
    probe = "certlife.stack.probe"
    producer = AIOKafkaProducer(**h.client(settings), transactional_id=f"t-{uuid.uuid4().hex}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(probe, b"ping")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(probe, **h.client(settings), group_id=f"t-{uuid.uuid4().hex}")
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=2000)
        await consumer.commit()
    finally:
        await consumer.stop()


async def test_topics_and_internal_logs_have_three_replicas(on_cluster: StackSettings) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await asyncio.to_thread(stack.provision, on_cluster, prefix)
    await _internal_logs_in_use(on_cluster)
    names = [spec.name for spec in certlife_topics(4, prefix)] + ["__transaction_state", "__consumer_offsets"]
    described = await h.describe(on_cluster, names)
    for name, partitions in described.items():
        assert partitions, name
        for p in partitions:
            assert sorted(p["replicas"]) == [1, 2, 3], (name, p)
            assert sorted(p["isr"]) == [1, 2, 3], (name, p)
            assert p["min_isr"] == 2, (name, p)
    assert len(described[prefix + topics.COMMANDS]) == 4


def _service_env(
    settings: StackSettings, database: str, prefix: str, schema: str, keys: Path
) -> dict[str, str]:
    """A service's environment: the cluster's bootstrap list, its own principal (no admin)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTLIFE_KAFKA_")}
    return env | {
        **settings.selection_env(),
        "CERTLIFE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CERTLIFE_DATABASE_URL": database,
        "CERTLIFE_DB_SCHEMA": schema,
        "CERTLIFE_TOPIC_PREFIX": prefix,
        "CERTLIFE_KEYS_DIR": str(keys),
        "CERTLIFE_KEY_PASSPHRASE": PASS,
        "CERTLIFE_CHECKPOINT_INTERVAL": "0.5",
        "CERTLIFE_POLL_INTERVAL": "0.2",
        "CERTLIFE_METRICS_PORT": "off",
        "PYTHONUNBUFFERED": "1",
    }


def _certctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _send(settings: StackSettings, topic: str, messages: list[tuple[bytes, bytes]], kill: Any) -> None:
    """Publish ``messages`` in small waves (acks=all, idempotent); ``kill`` runs once, mid-flow."""
    producer = AIOKafkaProducer(**h.client(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        wave = 30
        for start in range(0, len(messages), wave):
            if start >= len(messages) * 2 // 5 and kill is not None:
                await kill()
                kill = None
            futures = [await producer.send(topic, v, key=k) for k, v in messages[start : start + wave]]
            await asyncio.gather(*futures)
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()


def _one_outcome_each(messages: list[tuple[bytes, bytes]], results: list[tuple[Any, ...]]) -> Counter[str]:
    """Every message one outcome, a re-send the original's; the count of each status."""
    sent = Counter(json.loads(v)["commandId"] for _, v in messages)
    bodies: dict[str, list[dict[str, Any]]] = {}
    for _, _, key, value in results:
        body = json.loads(value)
        assert key == body["commandId"].encode()
        bodies.setdefault(body["commandId"], []).append(body)
    got = Counter({cid: len(b) for cid, b in bodies.items()})
    assert got == sent, f"missing {dict(sent - got)}, extra {dict(got - sent)}"
    for cid, same in bodies.items():
        assert all(b == same[0] for b in same), f"{cid}: a re-send got another outcome"
    return Counter(b[0]["status"] for b in bodies.values())


async def test_leader_of_the_log_killed_while_commands_flow(
    on_cluster: StackSettings, database_url: str, tmp_path: Path
) -> None:
    settings = on_cluster
    prefix, schema = f"t{uuid.uuid4().hex[:10]}.", f"t_{uuid.uuid4().hex[:12]}"
    await asyncio.to_thread(stack.provision, settings, prefix)  # topics and the services' principals
    conn = await asyncpg.connect(database_url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    env = _service_env(settings, database_url, prefix, schema, tmp_path / "keys")
    assert _certctl(env, "keys", "generate").returncode == 0
    services = [ServiceProcess(name, env, tmp_path).start() for name in ("commands", "relay", "projections")]
    log_topic, messages = prefix + topics.LOG, h.commands(CERTIFICATES)
    figures: dict[str, float] = {}
    try:
        services[0].wait_for_log("started successfully", timeout=90)
        services[1].wait_for_log("relay active", timeout=90)
        services[2].wait_for_log("projections active", timeout=90)
        async with (
            h.Watcher(settings, prefix + topics.COMMAND_RESULTS) as results,
            h.Watcher(settings, log_topic) as log,
        ):

            async def kill() -> None:
                await log.until(1, 60, "log records before the kill")
                victim = await h.leader_of(settings, log_topic)
                figures["controller"] = cluster.active_controller(settings) or 0
                figures["end"] = await h.committed_end(settings, log_topic)
                h.kill_node(settings, victim)
                figures["victim"], figures["killed"] = victim, time.monotonic()

            await _send(settings, prefix + topics.COMMANDS, messages, kill)
            await results.until(len(messages), 120, "outcomes")
            await log.until(3 * CERTIFICATES, 120, "log records")
            await asyncio.sleep(2)  # a doubled outcome or record would show up by now
            statuses = _one_outcome_each(messages, results.records)
            resumed = log.first_at_or_after(int(figures["end"]))
        assert statuses == Counter({"accepted": 3 * CERTIFICATES}), statuses
        assert figures["controller"] in (1, 2, 3)
        assert resumed is not None
        figures["recovery"] = resumed - figures["killed"]
        assert all(s.running for s in services), "a service died with the broker"
        trust = TrustFile.from_bytes(_certctl(env, "keys", "trust").stdout.encode())
        report = await check_log(settings.kafka_bootstrap, prefix, trust)  # 0..N-1 once, signed, chained
        assert sum(r.kind == "certificate" for r in report.records) == 3 * CERTIFICATES
        assert len({(r.number, r.data["seq"]) for r in report.records if r.kind == "certificate"}) == 450
        _certverify_over_kafka(settings, int(figures["victim"]), prefix, trust, tmp_path, report.size)
        assert await _read_model(conn, schema) == {"valid": CERTIFICATES}
    finally:
        for service in services:
            service.kill()
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
    figures["rejoin"] = await _restart(settings, log_topic)
    print(
        f"\nkilled node {figures['victim']:.0f} (log leader; active controller: node "
        f"{figures['controller']:.0f}); log records resumed "
        f"{figures['recovery']:.1f} s after the kill; node back in the ISR {figures['rejoin']:.1f} s after restart"
    )


async def _read_model(conn: asyncpg.Connection, schema: str, timeout: float = 60) -> dict[str, int]:
    """Statuses in the projections' read model once its history holds every record (450)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = await conn.fetchval(f'SELECT count(*) FROM "{schema}".certificate_history')
        except asyncpg.UndefinedTableError:
            rows = 0
        if rows >= 3 * CERTIFICATES or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    statuses = await conn.fetch(f'SELECT status, count(*) AS n FROM "{schema}".certificates GROUP BY status')
    return {r["status"]: r["n"] for r in statuses}


def _certverify_over_kafka(
    settings: StackSettings, victim: int, prefix: str, trust: TrustFile, tmp_path: Path, size: int
) -> None:
    """``certverify log kafka://…`` through a surviving node verifies all ``size`` records."""
    (tmp_path / "trust.json").write_bytes(trust.to_bytes())
    survivor = next(p for n, p in enumerate(settings.client_ports, 1) if n != victim)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certlife.services.partner.certverify",
            "log",
            f"kafka://127.0.0.1:{survivor}?prefix={prefix}",
            "--trust",
            str(tmp_path / "trust.json"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**__import__("os").environ, **admin_env()},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["records"] == size


async def _restart(settings: StackSettings, topic: str) -> float:
    """Start the killed node again (the launcher's ``up``); seconds until it is back in ``topic``'s ISR."""
    started = time.monotonic()
    await asyncio.to_thread(cluster.start, settings)
    while len((await h.describe(settings, [topic]))[topic][0]["isr"]) < 3:
        assert time.monotonic() - started < 150, f"the restarted node did not rejoin {topic}'s ISR"
        await asyncio.sleep(0.5)
    return time.monotonic() - started
