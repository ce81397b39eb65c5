"""The command service as a real process on real Kafka and PostgreSQL.

Each test runs ``certctl serve commands`` as a subprocess with its own topic
prefix and event-store schema, publishes scenario traffic (duplicates,
conflicting commands, malformed messages) and checks the three places where
the result shows: the results topic (read committed), the dead-letter topic and
the event store. The expected outcomes come from the same messages run through
the in-memory application (an oracle independent of Kafka and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from certlife.contracts import topics
from certlife.contracts.commands import CommandError, parse_command
from certlife.domain.certificate import Certificate
from certlife.domain.errors import CertificateNotFound
from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.batch import Inbound, process_batch
from certlife.services.demo.scenario import generate_commands
from certlife.services.infra.topics import certlife_topics, ensure_topics
from tests.kafka import admin, admin_env, client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "cqc.example"
N_MESSAGES = 1000


@dataclass
class Service:
    """One ``certctl serve commands`` subprocess and its log."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "commands"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(f"command service exited with {self.proc.returncode}:\n{self.tail()}", pytrace=False)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def logged(self, text: str) -> bool:
        return self.log.exists() and text in self.log.read_text(errors="replace")

    async def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.logged(text):
            self.alive()
            if time.monotonic() > deadline:
                pytest.fail(f"{text!r} not logged within {timeout:.0f} s\n{self.tail()}", pytrace=False)
            await asyncio.sleep(0.1)


@pytest.fixture
def service_env(
    kafka_bootstrap: str, database_url: str, pg_schema: str, unique_name: Callable[[str], str]
) -> dict[str, str]:
    """Environment of a command service isolated to this test."""
    return {
        **os.environ,
        **admin_env(),
        "CERTLIFE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CERTLIFE_DATABASE_URL": database_url,
        "CERTLIFE_DB_SCHEMA": pg_schema,
        "CERTLIFE_TOPIC_PREFIX": unique_name(""),
        "CERTLIFE_ISSUER": ISSUER,
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def service(service_env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    """A not-yet-started service; always killed at the end."""
    svc = Service(service_env, tmp_path / "service.log")
    try:
        yield svc
    finally:
        svc.kill()


def _topic(env: dict[str, str], name: str) -> str:
    return env["CERTLIFE_TOPIC_PREFIX"] + name


def _scenario() -> list[tuple[bytes, bytes]]:
    messages = generate_commands(
        360,
        seed=20250601,
        issuer=ISSUER,
        now=datetime.now(UTC),
        duplicates=0.15,
        conflicts=0.2,
        malformed=0.08,
    )
    assert len(messages) >= N_MESSAGES
    return messages[:N_MESSAGES]


def _oracle(messages: list[tuple[bytes, bytes]]) -> dict[str, dict[str, Any]]:
    """Outcome per commandId from the in-memory application."""
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        batch = [Inbound("c", 0, i, k, v) for i, (k, v) in enumerate(messages)]
        out = process_batch(app, batch, datetime.now(UTC), results_topic="r", dead_letter_topic="d")
    finally:
        app.close()
    return {json.loads(m.value)["commandId"]: json.loads(m.value) for m in out if m.topic == "r"}


def _readable(messages: list[tuple[bytes, bytes]]) -> tuple[Counter[str], Counter[bytes]]:
    """(times each readable commandId was sent, malformed message values)."""
    sent: Counter[str] = Counter()
    malformed: Counter[bytes] = Counter()
    for _, value in messages:
        try:
            sent[parse_command(value).command_id] += 1
        except CommandError as e:
            malformed[value] += 1
            if e.command_id:
                sent[e.command_id] += 1
    return sent, malformed


async def _publish(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**client(bootstrap), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Collector:
    """Reads a topic read-committed from the beginning, keeping every record."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic,
            **client(bootstrap),
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=1000,
        )
        self.records: list[tuple[bytes | None, bytes]] = []

    async def __aenter__(self) -> Collector:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self, seconds: float = 0.2) -> int:
        batches = await self.consumer.getmany(timeout_ms=int(seconds * 1000))
        for records in batches.values():
            self.records += [(r.key, r.value) for r in records if r.value is not None]
        return len(self.records)

    async def until(self, count: int, timeout: float, service: Service, what: str) -> None:
        deadline = time.monotonic() + timeout
        while await self.poll() < count:
            service.alive()
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{what}: {len(self.records)} of {count} after {timeout:.0f} s\n{service.tail()}",
                    pytrace=False,
                )

    async def settle(self, seconds: float = 3.0) -> None:
        """Keep reading a little longer, so a doubled outcome would show up."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.poll()


async def _wait_for_topics(bootstrap: str, env: dict[str, str], service: Service) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client(bootstrap))
    await admin.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            names = set(await admin.list_topics())
            if {_topic(env, topics.COMMANDS), _topic(env, topics.COMMAND_RESULTS)} <= names:
                return
            service.alive()
            if time.monotonic() > deadline:
                pytest.fail(f"service created no topics within 60 s\n{service.tail()}", pytrace=False)
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def _check(
    messages: list[tuple[bytes, bytes]],
    results: list[tuple[bytes | None, bytes]],
    dead: list[tuple[bytes | None, bytes]],
    env: dict[str, str],
) -> None:
    sent, malformed = _readable(messages)
    expected = _oracle(messages)
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for key, value in results:
        body = json.loads(value)
        assert key == body["commandId"].encode()
        outcomes.setdefault(body["commandId"], []).append(body)

    # 1. exactly one outcome per readable message: nothing lost, nothing doubled
    got = Counter({cid: len(v) for cid, v in outcomes.items()})
    assert got == sent, f"missing {dict(sent - got)}, extra {dict(got - sent)}"
    for cid, bodies in outcomes.items():
        assert all(b == bodies[0] for b in bodies), f"{cid}: a re-sent command got another outcome"
        assert _essence(bodies[0]) == _essence(expected[cid]), cid

    # 2. every malformed message on the dead-letter topic, once
    assert Counter(v for _, v in dead) == malformed

    # 3. the event store holds exactly the accepted changes, in order
    statuses = Counter(b[0]["status"] for b in outcomes.values())
    assert statuses["accepted"] > 500 and statuses["rejected"] > 20, statuses
    per_cert: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for key, value in messages:
        try:
            cid = parse_command(value).command_id
        except CommandError:
            continue
        body = outcomes[cid][0]
        if cid in seen or key == b"expire-due":
            continue
        seen.add(cid)
        per_cert.setdefault(key.decode(), [])
        if body["status"] == "accepted":
            per_cert[key.decode()].append(body)
    app = CertificateApplication(env=_es_env(env))
    try:
        for number, accepted in per_cert.items():
            try:
                events = app.history(number, ISSUER)
            except CertificateNotFound:
                events = []
            assert all(isinstance(e, Certificate.Event) for e in events)
            assert [e.command_id for e in events] == [b["commandId"] for b in accepted], number
            assert [e.originator_version for e in events] == [b["version"] for b in accepted], number
            assert [e.originator_version for e in events] == list(range(1, len(events) + 1)), number
    finally:
        app.close()


def _essence(body: dict[str, Any]) -> tuple[Any, ...]:
    return (body["status"], body.get("event"), body.get("version"), body.get("code"), body.get("number"))


def _es_env(env: dict[str, str]) -> dict[str, str]:
    from certlife.services.infra.settings import Settings

    return Settings.from_env(env).eventsourcing_env()


async def test_mixed_traffic_yields_exactly_the_accepted_changes(
    service: Service, service_env: dict[str, str], kafka_bootstrap: str
) -> None:
    messages = _scenario()
    sent, malformed = _readable(messages)
    service.start()
    await _wait_for_topics(kafka_bootstrap, service_env, service)
    await _publish(kafka_bootstrap, _topic(service_env, topics.COMMANDS), messages)
    async with (
        Collector(kafka_bootstrap, _topic(service_env, topics.COMMAND_RESULTS)) as results,
        Collector(kafka_bootstrap, _topic(service_env, topics.DEAD_LETTER)) as dead,
    ):
        await results.until(sum(sent.values()), 180, service, "outcomes")
        await dead.until(sum(malformed.values()), 30, service, "dead letters")
        await results.settle()
        await dead.settle(0.5)
    _check(messages, results.records, dead.records, service_env)


async def test_killed_mid_stream_and_restarted_loses_and_doubles_nothing(
    service: Service, service_env: dict[str, str], kafka_bootstrap: str
) -> None:
    service.env = {**service_env, "CERTLIFE_BATCH_MAX_RECORDS": "40"}  # many transactions to cut into
    messages = _scenario()
    sent, malformed = _readable(messages)
    prefix = service_env["CERTLIFE_TOPIC_PREFIX"]
    await ensure_topics(admin(kafka_bootstrap), certlife_topics(4, prefix))
    await _publish(kafka_bootstrap, _topic(service_env, topics.COMMANDS), messages)
    total = sum(sent.values())
    async with (
        Collector(kafka_bootstrap, _topic(service_env, topics.COMMAND_RESULTS)) as results,
        Collector(kafka_bootstrap, _topic(service_env, topics.DEAD_LETTER)) as dead,
    ):
        service.start()
        await results.until(total // 5, 120, service, "outcomes before the kill")
        service.kill()
        seen_at_kill = len(results.records)
        assert seen_at_kill < total, "the service finished before it could be killed mid-stream"
        service.start()
        await results.until(total, 180, service, "outcomes after the restart")
        await dead.until(sum(malformed.values()), 30, service, "dead letters")
        await results.settle()
        await dead.settle(0.5)
    _check(messages, results.records, dead.records, service_env)


async def test_a_second_instance_stands_by_and_takes_over_without_doubling(
    service: Service, service_env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Two instances on one event store: one works, one waits; killing the first loses nothing."""
    service.env = {**service_env, "CERTLIFE_BATCH_MAX_RECORDS": "40"}
    standby = Service(service.env, tmp_path / "standby.log")
    messages = _scenario()
    sent, malformed = _readable(messages)
    total = sum(sent.values())
    await ensure_topics(admin(kafka_bootstrap), certlife_topics(4, service_env["CERTLIFE_TOPIC_PREFIX"]))
    try:
        service.start()
        await service.wait_for_log("started successfully")
        standby.start()
        await standby.wait_for_log("standing by")
        await _publish(kafka_bootstrap, _topic(service_env, topics.COMMANDS), messages)
        async with (
            Collector(kafka_bootstrap, _topic(service_env, topics.COMMAND_RESULTS)) as results,
            Collector(kafka_bootstrap, _topic(service_env, topics.DEAD_LETTER)) as dead,
        ):
            await results.until(total // 5, 120, service, "outcomes before the kill")
            standby.alive()
            assert not standby.logged("started successfully"), (
                "the standby consumed while the first was active"
            )
            service.kill()
            assert len(results.records) < total, "the first instance finished before it could be killed"
            await results.until(total, 180, standby, "outcomes after the takeover")
            await dead.until(sum(malformed.values()), 30, standby, "dead letters")
            await results.settle()
            await dead.settle(0.5)
        assert standby.logged("taking over")
    finally:
        standby.kill()
    _check(messages, results.records, dead.records, service_env)


async def test_certctl_round_trip_through_the_service(
    service: Service, service_env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    service.start()
    await _wait_for_topics(kafka_bootstrap, service_env, service)
    issue = json.loads(generate_commands(1, seed=5, issuer=ISSUER, now=datetime.now(UTC))[0][1])
    number = issue["number"]
    del issue["commandId"], issue["type"]
    cert_file = tmp_path / "cert.json"
    cert_file.write_text(json.dumps(issue), encoding="utf-8")

    def certctl(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "certlife.services.cli.certctl", *argv],
            cwd=ROOT,
            env=service_env,
            capture_output=True,
            text=True,
            timeout=90,
        )

    issued = certctl("issue", "--file", str(cert_file), "--wait", "--json", "--command-id", "op-1")
    assert issued.returncode == 0, issued.stderr
    assert json.loads(issued.stdout)["event"] == "issued"
    again = certctl("issue", "--file", str(cert_file), "--wait", "--json", "--command-id", "op-1")
    assert json.loads(again.stdout) == json.loads(issued.stdout)  # idempotent retry
    revoked = certctl("revoke", number, "--reason", "falsified test report", "--wait")
    assert revoked.returncode == 0, revoked.stderr
    twice = certctl("revoke", number, "--reason", "again", "--wait")
    assert twice.returncode == 1
    assert "invalid-transition" in twice.stdout
    shown = certctl("show", number, "--json")
    assert shown.returncode == 0, shown.stderr
    assert (json.loads(shown.stdout)["status"], json.loads(shown.stdout)["version"]) == ("revoked", 2)
    history = certctl("history", number, "--json")
    events = json.loads(history.stdout)["events"]
    assert (events[0]["event"], events[0]["commandId"]) == ("issued", "op-1")
    assert [e["status"] for e in events] == ["valid", "revoked"]
    invalid = certctl("suspend", number, "--reason", "x", "--review-date", "someday")
    assert invalid.returncode == 2
    assert invalid.stderr.count("\n") == 1 and "not sent" in invalid.stderr
