"""The trust boundary on the real broker: SASL_SSL + SCRAM + TLS + ACLs, principals and kits.

Every refusal is checked twice: the client gets an authentication or
authorization error, and (read back as the admin) nothing reached the topic.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from certlife.contracts import topics
from certlife.services.infra import principals
from certlife.services.infra.kafka_access import MECHANISM, KafkaAccess
from certlife.services.infra.kafka_admin import Acl, KafkaAdmin, Operation, ResourceType, missing_grants
from certlife.services.infra.kit import read_kit_env
from certlife.services.infra.secret import Secret
from certlife.services.infra.stack import StackSettings, provision
from certlife.services.infra.topics import certlife_topics, ensure_topics
from tests.kafka import admin, admin_env, client
from tests.procs import ROOT
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.integration


@pytest.fixture
async def deployment(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A fresh deployment prefix with its topics; its principals are deleted afterwards."""
    prefix = f"tb{uuid.uuid4().hex[:8]}."
    await ensure_topics(admin(), certlife_topics(1, prefix))
    yield prefix
    async with KafkaAdmin(admin()) as kafka:
        for user in await kafka.users():
            if user.startswith(prefix):
                await kafka.delete_acls(f"User:{user}")
                await kafka.delete_user(user)


async def _end_offset(topic: str) -> int:
    consumer = AIOKafkaConsumer(**client())
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()


async def _as(who: principals.Principal) -> KafkaAccess:
    secret = await principals.add(admin(), who)
    return replace(admin(), username=who.user, password=secret, mechanism=MECHANISM)


async def _produce(access: KafkaAccess, topic: str) -> str:
    """Try to write one message; the error class name, or 'ok'."""
    producer = AIOKafkaProducer(**access.client_options(), request_timeout_ms=8000)
    try:
        await asyncio.wait_for(producer.start(), 15)
        await asyncio.wait_for(producer.send_and_wait(topic, b"forged"), 15)
        return "ok"
    except (KafkaError, TimeoutError) as exc:
        return type(exc).__name__
    finally:
        await producer.stop()


async def _consume(
    access: KafkaAccess, topic: str, group: str | None = None, request_timeout_ms: int = 8000
) -> str:
    """Try to read ``topic`` (with ``group``: subscribe and join it); the error class name, or 'ok'."""
    consumer = AIOKafkaConsumer(
        **access.client_options(),
        group_id=group,
        auto_offset_reset="earliest",
        request_timeout_ms=request_timeout_ms,
    )
    try:
        await asyncio.wait_for(consumer.start(), 15)
        tp = TopicPartition(topic, 0)
        if group:
            consumer.subscribe([topic])
            await asyncio.wait_for(consumer.getmany(timeout_ms=3000), 15)
            if not consumer.assignment():
                return "not assigned"
        else:
            consumer.assign([tp])
            await asyncio.wait_for(consumer.end_offsets([tp]), 15)  # the broker answers or refuses
        await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 15)
        return "ok"
    except (KafkaError, TimeoutError) as exc:
        return type(exc).__name__
    finally:
        await consumer.stop()


async def test_a_partner_reads_the_public_log_and_nothing_else(deployment: str) -> None:
    p = deployment
    lab = await _as(principals.member("partner", "lab-a", p))
    await _as(principals.member("partner", "lab-b", p))
    before = {t: await _end_offset(p + t) for t in (topics.COMMANDS, topics.LOG, topics.CHECKPOINTS)}
    for topic in before:
        assert await _produce(lab, p + topic) == "TopicAuthorizationFailedError", topic
    private = [p + t for t in (topics.COMMANDS, topics.COMMAND_RESULTS, topics.EVENTS, topics.DEAD_LETTER)]
    for topic in private:  # aiokafka reports a refused metadata request as a timeout (a short one
        # here: the broker's own answer, that no READ is granted, is asserted just below)
        found = await _consume(lab, topic, request_timeout_ms=2500)
        assert found in ("TopicAuthorizationFailedError", "KafkaTimeoutError"), topic
    reads = [Acl(lab.principal, ResourceType.TOPIC, t, Operation.READ) for t in private]
    assert await missing_grants(lab, reads) == reads  # and the broker itself says: no READ
    assert await _consume(lab, p + topics.LOG) == "ok"
    assert await _consume(lab, p + topics.LOG, f"{p}partner.lab-a.mirror") == "ok"
    assert await _consume(lab, p + topics.LOG, f"{p}partner.lab-b.mirror") in (
        "GroupAuthorizationFailedError",
        "not assigned",
    )
    after = {t: await _end_offset(p + t) for t in before}
    assert after == before  # nothing reached any topic


async def test_internal_systems_and_services_stay_in_their_lanes(deployment: str) -> None:
    p = deployment
    system = await _as(principals.member("client", "erp", p))
    relay = await _as(principals.service("relay", p))
    before = {t: await _end_offset(p + t) for t in (topics.COMMANDS, topics.LOG)}
    assert await _produce(system, p + topics.LOG) == "TopicAuthorizationFailedError"
    assert await _produce(relay, p + topics.COMMANDS) == "TopicAuthorizationFailedError"
    assert await _consume(system, p + topics.COMMANDS) == "TopicAuthorizationFailedError"
    assert {t: await _end_offset(p + t) for t in before} == before
    assert await _produce(system, p + topics.COMMANDS) == "ok"  # its own lane works
    assert await _end_offset(p + topics.COMMANDS) == before[topics.COMMANDS] + 1


async def test_unauthenticated_wrong_password_plaintext_and_wrong_ca_are_refused(
    deployment: str, tmp_path: Path
) -> None:
    p = deployment
    lab = await _as(principals.member("partner", "lab-c", p))
    log = p + topics.LOG
    assert await _consume(replace(lab, password=Secret("wrong")), log) in (
        "SaslAuthenticationFailed",
        "KafkaConnectionError",
    )
    assert await _consume(replace(lab, username="nobody"), log) in (
        "SaslAuthenticationFailed",
        "KafkaConnectionError",
    )
    assert await _consume(KafkaAccess(lab.bootstrap, plaintext=True), log) == "KafkaConnectionError"
    other_ca = tmp_path / "other-ca.pem"
    from certlife.services.infra.stack.tls import ensure_tls

    other_ca.write_bytes(ensure_tls(tmp_path / "other").read_bytes())
    assert await _consume(replace(lab, ca_file=other_ca), log) == "KafkaConnectionError"
    # and certverify names the cause in one line, exit 2
    env = {
        **os.environ,
        **read_kit_env(_kit(tmp_path / "kit", "lab-d", p)),
        "CERTLIFE_KAFKA_CA_FILE": str(other_ca),
    }
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.partner.certverify", "log", f"kafka://{lab.bootstrap}?prefix={p}",
         "--trust", str(tmp_path / "kit" / "trust.json")],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "not trusted" in result.stderr and "CERTLIFE_KAFKA_CA_FILE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _kit(directory: Path, name: str, prefix: str) -> Path:
    trust = directory.parent / f"{name}-trust.json"
    trust.write_bytes(LogBuilder().trust().to_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "partners", "add", name, "--kit", str(directory),
         "--trust", str(trust)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, **admin_env(), "CERTLIFE_TOPIC_PREFIX": prefix},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    password = (directory / "password").read_text().strip()
    assert password not in result.stdout + result.stderr
    return directory


async def test_a_revoked_partner_is_cut_off_on_open_connections_and_refused_on_reconnect(
    deployment: str, tmp_path: Path
) -> None:
    p = deployment
    kit = _kit(tmp_path / "kit", "lab-e", p)
    lab = partner_access_of(kit)
    consumer = AIOKafkaConsumer(**lab.client_options(), request_timeout_ms=8000)
    await consumer.start()
    try:
        tp = TopicPartition(p + topics.LOG, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        assert await consumer.position(tp) >= 0  # the open connection works
        revoked = subprocess.run(
            [sys.executable, "-m", "certlife.services.cli.certctl", "partners", "revoke", "lab-e"],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
            env={**os.environ, **admin_env(), "CERTLIFE_TOPIC_PREFIX": p},
        )  # fmt: skip
        assert revoked.returncode == 0, revoked.stderr
        with pytest.raises(KafkaError) as denied:  # the same open connection, next request
            await consumer.end_offsets([tp])
        assert type(denied.value).__name__ == "TopicAuthorizationFailedError"
    finally:
        await consumer.stop()
    assert await _consume(lab, p + topics.LOG) in ("SaslAuthenticationFailed", "KafkaConnectionError")
    listed = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "partners", "list", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, **admin_env(), "CERTLIFE_TOPIC_PREFIX": p},
    )  # fmt: skip
    assert listed.returncode == 0 and "lab-e" not in listed.stdout


@pytest.mark.parametrize(
    ("role", "missing"),
    [
        ("commands", "WRITE on topic {p}certlife.command-results.v1"),
        ("relay", "WRITE on topic {p}certlife.log.v1"),
        ("projections", "READ on topic {p}certlife.checkpoints.v1"),
    ],
)
async def test_a_service_missing_one_grant_exits_with_one_line_naming_it(
    deployment: str, database_url: str, pg_schema: str, tmp_path: Path, role: str, missing: str
) -> None:
    p = deployment
    await asyncio.to_thread(provision, StackSettings.from_env(), p)
    want = missing.format(p=p)
    op, _, rest = want.partition(" on topic ")
    async with KafkaAdmin(admin()) as kafka:
        who = principals.service(role, p)
        acl = next(a for a in principals.grants(who) if a.operation.name == op and a.name == rest)
        assert await kafka.delete_acl(acl) == 1
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CERTLIFE_KAFKA_USERNAME", "CERTLIFE_KAFKA_PASS"))
    }
    env.update(
        CERTLIFE_TOPIC_PREFIX=p, CERTLIFE_DATABASE_URL=database_url, CERTLIFE_DB_SCHEMA=pg_schema,
        CERTLIFE_KEYS_DIR=str(tmp_path / "keys"), CERTLIFE_KEY_PASSPHRASE="unused-here",
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", role],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("certctl: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"principal User:{p}certlife-{role}" in lines[0] and want in lines[0]


async def test_no_secret_in_process_listings_logs_or_reprs(kafka_bootstrap: str) -> None:
    stack = StackSettings.from_env()
    access = admin()
    password = access.password.reveal() if access.password else ""
    assert password and password not in repr(access) and password not in str(access)
    from certlife.services.infra.settings import Settings

    settings = Settings.from_env({**admin_env(), "CERTLIFE_KAFKA_BOOTSTRAP": kafka_bootstrap})
    assert settings.kafka.password is not None and password not in repr(settings)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert password.encode() not in cmdline, f"process {pid} shows the admin password"
    home = stack.state / "kafka"
    for log in ("stdout.log", "server.log"):
        if (home / log).exists():
            assert password not in (home / log).read_text(errors="replace")
    assert oct((home / "server.properties").stat().st_mode & 0o777) == "0o600"
    secrets_dir = stack.state / "secrets" / "kafka"
    assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in secrets_dir.iterdir())


def test_the_broker_speaks_tls_with_a_certificate_for_127_0_0_1(kafka_bootstrap: str) -> None:
    import socket

    host, port = kafka_bootstrap.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(StackSettings.from_env().ca_file))
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.3", "TLSv1.2")


def test_clis_name_a_refused_login_in_one_line_without_the_password(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CERTLIFE_KAFKA_")}
    wrong = {**base, **admin_env(), "CERTLIFE_KAFKA_PASSWORD": "wrong-pass-4711"}
    del wrong["CERTLIFE_KAFKA_PASSWORD_FILE"]
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "clients", "list"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env=wrong,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "certctl: error: Kafka at 127.0.0.1:9092 refused principal User:admin: authentication failed "
        "(wrong username or password, or the principal was revoked): check CERTLIFE_KAFKA_USERNAME and "
        "CERTLIFE_KAFKA_PASSWORD_FILE"
    ]
    assert "wrong-pass-4711" not in result.stdout + result.stderr
    (tmp_path / "trust.json").write_bytes(LogBuilder().trust().to_bytes())
    anonymous = subprocess.run(
        [sys.executable, "-m", "certlife.services.partner.certverify", "log", "kafka://127.0.0.1:9092",
         "--trust", str(tmp_path / "trust.json")],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env=base,
    )  # fmt: skip
    assert anonymous.returncode == 2, anonymous.stderr
    assert anonymous.stderr.startswith("certverify: error: no Kafka credentials for 127.0.0.1:9092")
    assert len(anonymous.stderr.strip().splitlines()) == 1


async def test_principals_survive_a_broker_restart(deployment: str, tmp_path: Path) -> None:
    from certlife.services.infra.stack import kafka as broker

    stack = StackSettings.from_env()
    assert broker.running(stack), "this test restarts the native local stack's broker"
    kit = _kit(tmp_path / "kit", "lab-f", deployment)
    lab = partner_access_of(kit)
    assert await _consume(lab, deployment + topics.LOG) == "ok"
    await asyncio.to_thread(broker.stop, stack)
    assert await asyncio.to_thread(broker.start, stack)  # restores every kept credential
    assert await _consume(lab, deployment + topics.LOG) == "ok"
    # and a kit's trust file must be one: anything else is refused before a principal exists
    bad = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "partners", "add", "lab-g", "--kit",
         str(tmp_path / "kit-g"), "--trust", str(kit / "README.txt")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, **admin_env(), "CERTLIFE_TOPIC_PREFIX": deployment},
    )  # fmt: skip
    assert bad.returncode == 2 and "malformed trust file" in bad.stderr, bad.stderr
    assert not (tmp_path / "kit-g").exists()


def partner_access_of(kit: Path) -> KafkaAccess:
    """The access a partner gets from its kit alone."""
    from certlife.services.infra.settings import partner_access

    return partner_access(read_kit_env(kit))
