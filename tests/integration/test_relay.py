"""The relay against real Kafka and PostgreSQL: crashes, fencing, rotation, fork refusal."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from certlife.contracts.commands import IssueCertificate, parse_command
from certlife.contracts.records import parse_record
from certlife.contracts.trust import TrustFile
from certlife.services.commands.application import CertificateApplication
from certlife.services.relay.store import KeyRequest, RelayStore
from tests.integration.logcheck import check_log, read_topic
from tests.kafka import admin, client
from tests.procs import ROOT, ServiceProcess, service_env

pytestmark = pytest.mark.integration

ISSUER = "certlife.example"
PASS = "relay-test-passphrase"


def stack_env(
    kafka_bootstrap: str, database_url: str, schema: str, prefix: str, keys: Path, **extra: str
) -> dict[str, str]:
    """Environment of relay/projection processes isolated to one test (topics, schema, keys)."""
    return service_env(
        {
            "CERTLIFE_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "CERTLIFE_DATABASE_URL": database_url,
            "CERTLIFE_DB_SCHEMA": schema,
            "CERTLIFE_TOPIC_PREFIX": prefix,
            "CERTLIFE_KEYS_DIR": str(keys),
            "CERTLIFE_KEY_PASSPHRASE": PASS,
            "CERTLIFE_CHECKPOINT_EVERY": "500",
            "CERTLIFE_CHECKPOINT_INTERVAL": "0.5",
            "CERTLIFE_POLL_INTERVAL": "0.3",
            "CERTLIFE_RELAY_BATCH": "200",
            **extra,
        }
    )


@pytest.fixture
def relay_env(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> dict[str, str]:
    return stack_env(kafka_bootstrap, database_url, pg_schema, unique_name("relay") + ".", tmp_path / "keys")


def certctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def lifecycle_commands(start: int, count: int) -> list[list[bytes]]:
    """Rounds of commands: each round gives every certificate one more event (5 in all)."""

    def cmd(kind: str, i: int, **extra: object) -> bytes:
        body = {"type": kind, "commandId": f"{kind}-{i}", "issuer": ISSUER, "number": f"RT-{i:05d}", **extra}
        return json.dumps(body).encode()

    issue = {
        "scheme": "CCC",
        "holder": "Volt Mobility Co., Ltd.",
        "manufacturer": "Volt Mobility",
        "factories": ["Hefei plant 1"],
        "product": "Traction battery pack",
        "models": ["VB-75"],
        "standards": ["GB 38031-2025"],
        "scope": "Lithium-ion traction battery packs",
        # Valid today and for three more years, whenever this runs.
        "validFrom": f"{datetime.now(UTC).year - 1}-01-01T00:00:00Z",
        "validUntil": f"{datetime.now(UTC).year + 3}-01-01T00:00:00Z",
    }
    ids = range(start, start + count)
    return [
        [cmd("issue", i, **issue) for i in ids],
        [cmd("suspend", i, reason="surveillance audit overdue") for i in ids],
        [cmd("reinstate", i) for i in ids],
        [cmd("amend", i, models=["VB-75", "VB-90"]) for i in ids],
        [cmd("revoke", i, reason="non-conformity confirmed") for i in ids],
    ]


def store(app: CertificateApplication, raw: list[bytes]) -> None:
    commands = [parse_command(r) for r in raw]
    outcomes = app.handle_batch(commands, datetime.now(UTC))
    assert all(o.status == "accepted" for o in outcomes), [o for o in outcomes if o.status != "accepted"][:3]


def certificate_events(app: CertificateApplication) -> int:
    return sum(
        1
        for n in app.recorder.select_notifications(None, 1_000_000)
        if n.topic.startswith("certlife.domain.certificate:Certificate.")
    )


async def wait_for_size(env: dict[str, str], trust: TrustFile, size: int, timeout: float = 120) -> None:
    from tests.integration.logcheck import read_topic

    topic = env["CERTLIFE_TOPIC_PREFIX"] + "certlife.log.v1"
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if len(await read_topic(env["CERTLIFE_KAFKA_BOOTSTRAP"], topic)) >= size:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"log did not reach {size} records within {timeout}s")


async def keys_and_twenty_issued(relay_env: dict[str, str], pg_env: dict[str, str]) -> None:
    """A record key in the test's key folder and 20 issued certificates in the event store."""
    assert certctl(relay_env, "keys", "generate").returncode == 0
    app = CertificateApplication(env=pg_env)
    await asyncio.to_thread(store, app, lifecycle_commands(0, 20)[0])


def trust_of(env: dict[str, str]) -> TrustFile:
    result = certctl(env, "keys", "trust")
    assert result.returncode == 0, result.stderr
    return TrustFile.from_bytes(result.stdout.encode())


async def test_relay_survives_five_sigkills(
    relay_env: dict[str, str], pg_env: dict[str, str], tmp_path: Path
) -> None:
    assert certctl(relay_env, "keys", "generate").returncode == 0
    app = CertificateApplication(env=pg_env)
    relay = ServiceProcess("relay", relay_env, tmp_path).start()
    rng = random.Random(7)
    try:
        relay.wait_for_log("relay active")
        rounds = lifecycle_commands(0, 1000)  # 5 rounds x 1000 = 5,000 events
        kills = 0
        for round_ in rounds:
            for chunk in range(0, len(round_), 250):
                await asyncio.to_thread(store, app, round_[chunk : chunk + 250])
                if kills < 5 and rng.random() < 0.35:
                    await asyncio.sleep(rng.uniform(0.05, 0.6))
                    relay.kill()
                    kills += 1
                    relay.start()
        while kills < 5:
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            relay.kill()
            kills += 1
            relay.start()
        expected = certificate_events(app)
        assert expected == 5000
        trust = trust_of(relay_env)
        await wait_for_size(relay_env, trust, expected)
        assert relay.stop() == 0
    finally:
        relay.kill()
    report = await check_log(relay_env["CERTLIFE_KAFKA_BOOTSTRAP"], relay_env["CERTLIFE_TOPIC_PREFIX"], trust)
    assert report.size == expected
    assert report.checkpoints, "no checkpoint was published"
    assert report.checkpoints[-1].size == expected, "the final checkpoint does not cover the whole log"
    numbers = {r.number for r in report.records}
    assert len(numbers) == 1000
    # Some kills land during start-up, before the instance is active: that is a crash too.
    assert relay.log_text().count("relay active") >= 2


async def test_second_relay_stands_by_then_takes_over(
    relay_env: dict[str, str], pg_env: dict[str, str], tmp_path: Path
) -> None:
    assert certctl(relay_env, "keys", "generate").returncode == 0
    app = CertificateApplication(env=pg_env)
    first = ServiceProcess("relay", relay_env, tmp_path, "-a").start()
    second = ServiceProcess("relay", relay_env, tmp_path, "-b")
    try:
        first.wait_for_log("relay active")
        second.start()
        second.wait_for_log("standing by")
        rounds = lifecycle_commands(0, 100)
        for round_ in rounds[:2]:
            await asyncio.to_thread(store, app, round_)
        trust = trust_of(relay_env)
        await wait_for_size(relay_env, trust, 200)
        assert "relay active" not in second.log_text()
        first.kill()
        second.wait_for_log("relay active", timeout=60)
        for round_ in rounds[2:]:
            await asyncio.to_thread(store, app, round_)
        await wait_for_size(relay_env, trust, 500)
        assert second.stop() == 0
    finally:
        first.kill()
        second.kill()
    report = await check_log(relay_env["CERTLIFE_KAFKA_BOOTSTRAP"], relay_env["CERTLIFE_TOPIC_PREFIX"], trust)
    assert report.size == 500


async def test_key_rotation_mid_run(
    relay_env: dict[str, str], pg_env: dict[str, str], tmp_path: Path
) -> None:
    assert certctl(relay_env, "keys", "generate").returncode == 0
    app = CertificateApplication(env=pg_env)
    relay = ServiceProcess("relay", relay_env, tmp_path).start()
    try:
        relay.wait_for_log("relay active")
        rounds = lifecycle_commands(0, 50)
        for round_ in rounds[:2]:
            await asyncio.to_thread(store, app, round_)
        first_trust = trust_of(relay_env)
        await wait_for_size(relay_env, first_trust, 100)
        active = first_trust.record_keys[0].key_id
        refused = certctl(relay_env, "keys", "compromise", active, "--from-index", "10")
        assert refused.returncode != 0 and "rotate" in refused.stderr and "Traceback" not in refused.stderr
        rotated = certctl(relay_env, "keys", "rotate", "--reason", "scheduled rotation")
        assert rotated.returncode == 0, rotated.stderr
        await wait_for_size(relay_env, first_trust, 101)
        for round_ in rounds[2:]:
            await asyncio.to_thread(store, app, round_)
        await wait_for_size(relay_env, first_trust, 251)
        marked = certctl(relay_env, "keys", "compromise", active, "--from-index", "90")
        assert marked.returncode == 0, marked.stderr
        await wait_for_size(relay_env, first_trust, 252)
        assert relay.stop() == 0
    finally:
        relay.kill()
    bootstrap, prefix = relay_env["CERTLIFE_KAFKA_BOOTSTRAP"], relay_env["CERTLIFE_TOPIC_PREFIX"]
    last = parse_record((await read_topic(bootstrap, prefix + "certlife.log.v1"))[-1])
    assert (last.index, last.action, last.subject_key_id, last.compromised_from_index) == (
        251,
        "compromise",
        active,
        90,
    )
    # A partner holding only the first trust file learns the new key from the log.
    report = await check_log(bootstrap, prefix, first_trust, limit=251)
    rotation = [r for r in report.records if r.kind == "key"]
    assert [(r.index, r.action) for r in rotation] == [(100, "rotate")]
    old_key, new_key = rotation[0].key_id, rotation[0].new_key_id
    assert {r.key_id for r in report.records[:101]} == {old_key}
    assert {r.key_id for r in report.records[101:]} == {new_key}
    # The operator's trust file now lists both keys with their ranges.
    ranges = {
        k.key_id: (k.valid_from_index, k.valid_until_index, k.compromised_from_index)
        for k in trust_of(relay_env).record_keys
    }
    assert ranges == {old_key: (0, 101, 90), new_key: (101, None, None)}


async def test_relay_refuses_to_fork(
    relay_env: dict[str, str], pg_env: dict[str, str], tmp_path: Path
) -> None:
    await keys_and_twenty_issued(relay_env, pg_env)
    relay = ServiceProcess("relay", relay_env, tmp_path).start()
    try:
        relay.wait_for_log("relay active")
        await wait_for_size(relay_env, trust_of(relay_env), 20)
        assert relay.stop() == 0
    finally:
        relay.kill()
    # Same event store, a different (empty) log topic: continuing would start a second log.
    other = dict(relay_env, CERTLIFE_TOPIC_PREFIX=relay_env["CERTLIFE_TOPIC_PREFIX"] + "other.")
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "relay"],
        env=other,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "refusing to start a second log" in result.stderr
    assert "Traceback" not in result.stderr


async def test_relay_starts_after_its_first_transaction_was_cut_short(
    relay_env: dict[str, str], pg_env: dict[str, str], tmp_path: Path
) -> None:
    """A crash inside the first-ever transaction leaves aborted records, not a log to refuse."""
    from aiokafka import AIOKafkaProducer

    from certlife.services.infra.topics import certlife_topics, ensure_topics

    await keys_and_twenty_issued(relay_env, pg_env)
    bootstrap, prefix = relay_env["CERTLIFE_KAFKA_BOOTSTRAP"], relay_env["CERTLIFE_TOPIC_PREFIX"]
    await ensure_topics(admin(bootstrap), certlife_topics(4, prefix))
    # What a relay killed before its first commit leaves: records of an aborted transaction.
    producer = AIOKafkaProducer(**client(bootstrap), transactional_id=f"{prefix}certlife-relay")
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(prefix + "certlife.log.v1", b'{"cut":"short"}', partition=0)
        await producer.abort_transaction()
    finally:
        await producer.stop()
    relay = ServiceProcess("relay", relay_env, tmp_path).start()
    try:
        relay.wait_for_log("relay active")
        trust = trust_of(relay_env)
        await wait_for_size(relay_env, trust, 20)
        assert relay.stop() == 0
    finally:
        relay.kill()
    report = await check_log(bootstrap, prefix, trust)
    assert report.size == 20 and [r.index for r in report.records] == list(range(20))


async def test_log_topics_keep_everything(relay_env: dict[str, str], tmp_path: Path) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    assert certctl(relay_env, "keys", "generate").returncode == 0
    relay = ServiceProcess("relay", relay_env, tmp_path).start()
    try:
        relay.wait_for_log("relay active")
    finally:
        relay.stop()
    admin = AIOKafkaAdminClient(**client(relay_env["CERTLIFE_KAFKA_BOOTSTRAP"]))
    await admin.start()
    try:
        prefix = relay_env["CERTLIFE_TOPIC_PREFIX"]
        names = [
            prefix + "certlife.log.v1",
            prefix + "certlife.checkpoints.v1",
            prefix + "certlife.events.v1",
        ]
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
        topics = await admin.describe_topics([prefix + "certlife.log.v1"])
    finally:
        await admin.close()
    configs = {}
    for response in described:
        for resource in response.resources:
            configs[resource[3]] = {entry[0]: entry[1] for entry in resource[4]}
    for name in names:
        assert configs[name]["cleanup.policy"] == "delete", name
        assert configs[name]["retention.ms"] == "-1", name
    assert len(topics[0]["partitions"]) == 1


async def test_relay_refuses_to_sign_inadmissible_content_and_alerts(
    relay_env: dict[str, str], pg_env: dict[str, str]
) -> None:
    """An event stored before the admission rule existed: the records before it are published,
    it is never signed, and the relay stops with an ALERT naming it instead of crash-looping on it."""
    await keys_and_twenty_issued(relay_env, pg_env)
    app = CertificateApplication(env=pg_env)
    issue = json.loads(lifecycle_commands(100, 1)[0][0])
    poison = IssueCertificate.model_validate({**issue, "holder": "Volt\x00Mobility"})  # past the rule
    assert (await asyncio.to_thread(app.handle, poison, datetime.now(UTC))).status == "accepted"
    # A key rotation queued past certctl's check, with a reason the rule forbids: refused, not published.
    conn = await asyncpg.connect(relay_env["CERTLIFE_DATABASE_URL"])
    try:
        store = RelayStore(conn, relay_env["CERTLIFE_DB_SCHEMA"])
        await store.create()
        await store.request_key_transition(KeyRequest(0, "rotate", "0" * 16, None, None, "bad\x1b[2J"))
    finally:
        await conn.close()
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "relay"],
        env=relay_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "ALERT: the relay stopped publishing" in result.stderr
    assert "certificate 'RT-00100' would become record 20" in result.stderr
    assert "Traceback" not in result.stderr
    records = await read_topic(
        relay_env["CERTLIFE_KAFKA_BOOTSTRAP"], relay_env["CERTLIFE_TOPIC_PREFIX"] + "certlife.log.v1"
    )
    assert len(records) == 20  # everything before it, nothing of it (nor the rotation)
    assert all(b"\\u0000" not in r for r in records)
    assert "its reason breaks the admission rule" in result.stderr
    checkpoints = await read_topic(
        relay_env["CERTLIFE_KAFKA_BOOTSTRAP"], relay_env["CERTLIFE_TOPIC_PREFIX"] + "certlife.checkpoints.v1"
    )
    assert checkpoints and checkpoints[-1].split(b"\n")[1] == b"20"  # what was published is anchored
