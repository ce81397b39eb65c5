"""Credential keys and status list commitments through the real relay (Kafka + PostgreSQL).

``certctl keys credential generate|announce`` → the relay writes a
``credential-key`` record; a queued ``statuslist`` request becomes a
``statuslist`` record (a malformed one is refused, the log goes on); a
credential key can be marked compromised; ``certctl keys trust`` lists the
credential keys; ``certverify log`` verifies the whole log from Kafka. An
existing relay schema from before these records is widened in place.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from certlife.contracts.records import parse_record
from certlife.contracts.verification import verify_log
from certlife.services.commands.application import CertificateApplication
from certlife.services.relay.store import KeyRequest, RelayStore
from tests.integration.logcheck import read_topic
from tests.integration.test_relay import (
    certctl,
    lifecycle_commands,
    stack_env,
    store,
    trust_of,
    wait_for_size,
)
from tests.kafka import admin_env
from tests.procs import ROOT, ServiceProcess

pytestmark = pytest.mark.integration

_OLD_SCHEMA = """
CREATE TABLE {s}.relay_heads (number text PRIMARY KEY, seq integer NOT NULL, record_hash text NOT NULL,
    log_index bigint NOT NULL);
CREATE TABLE {s}.relay_position (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    tree_size bigint NOT NULL, state bytea NOT NULL);
CREATE TABLE {s}.relay_keys (key_id text PRIMARY KEY, public_key bytea NOT NULL,
    valid_from_index bigint NOT NULL, valid_until_index bigint, compromised_from_index bigint);
CREATE TABLE {s}.relay_key_requests (
    id bigserial PRIMARY KEY, action text NOT NULL CHECK (action IN ('rotate', 'compromise')),
    new_key_id text, subject_key_id text, compromised_from_index bigint, reason text,
    requested_at timestamptz NOT NULL DEFAULT now(), done_at_index bigint);
INSERT INTO {s}.relay_key_requests (action, new_key_id) VALUES ('rotate', '0000000000000000');
"""


@pytest.fixture
def relay_env(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> dict[str, str]:
    return stack_env(kafka_bootstrap, database_url, pg_schema, unique_name("cred") + ".", tmp_path / "keys")


async def _request(env: dict[str, str], request: KeyRequest) -> int:
    conn = await asyncpg.connect(env["CERTLIFE_DATABASE_URL"])
    try:
        return await RelayStore(conn, env["CERTLIFE_DB_SCHEMA"]).request_key_transition(request)
    finally:
        await conn.close()


async def _done_at(env: dict[str, str], request_id: int) -> int | None:
    conn = await asyncpg.connect(env["CERTLIFE_DATABASE_URL"])
    try:
        schema = env["CERTLIFE_DB_SCHEMA"]
        return await conn.fetchval(
            f'SELECT done_at_index FROM "{schema}".relay_key_requests WHERE id = $1', request_id
        )
    finally:
        await conn.close()


async def _wait_done(env: dict[str, str], request_id: int, timeout: float = 60) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        done = await _done_at(env, request_id)
        if done is not None:
            return done
        await asyncio.sleep(0.3)
    raise AssertionError(f"request {request_id} still pending after {timeout}s")


async def test_credential_key_and_statuslist_records_through_the_relay(
    relay_env: dict[str, str], pg_env: dict[str, str], tmp_path: Path
) -> None:
    assert certctl(relay_env, "keys", "generate").returncode == 0
    none_yet = certctl(relay_env, "keys", "credential", "announce")
    assert none_yet.returncode != 0 and "credential generate" in none_yet.stderr
    assert "Traceback" not in none_yet.stderr
    generated = certctl(relay_env, "keys", "credential", "generate")
    assert generated.returncode == 0, generated.stderr
    kid = generated.stdout.split()[3]
    assert len(kid) == 16 and (Path(relay_env["CERTLIFE_KEYS_DIR"]) / f"credential-{kid}.pem").exists()
    assert "PRIVATE" not in generated.stdout and relay_env["CERTLIFE_KEY_PASSPHRASE"] not in generated.stdout
    pem = (Path(relay_env["CERTLIFE_KEYS_DIR"]) / f"credential-{kid}.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in pem

    app = CertificateApplication(env=pg_env)
    relay = ServiceProcess("relay", relay_env, tmp_path).start()
    try:
        relay.wait_for_log("relay active")
        await asyncio.to_thread(store, app, lifecycle_commands(0, 20)[0])
        first_trust = trust_of(relay_env)
        assert first_trust.credential_keys == () and "credentialKeys" not in first_trust.to_json()
        await wait_for_size(relay_env, first_trust, 20)

        announced = certctl(relay_env, "keys", "credential", "announce", "--reason", "first credential key")
        assert announced.returncode == 0, announced.stderr
        await wait_for_size(relay_env, first_trust, 21)
        again = certctl(relay_env, "keys", "credential", "announce", kid)
        assert again.returncode != 0 and "already announced" in again.stderr

        origin = first_trust.origin
        digest = hashlib.sha256(b"a status list").hexdigest()
        good = KeyRequest(
            0, "statuslist", None, None, None, None,
            purpose="revocation", list_id=f"https://{origin}/statuslists/revocation", log_size=21, sha256=digest,
        )  # fmt: skip
        bad = KeyRequest(
            0, "statuslist", None, None, None, None,
            purpose="revocation", list_id=f"https://{origin}/statuslists/revocation", log_size=99, sha256=digest,
        )  # fmt: skip
        refused = await _request(relay_env, bad)
        assert await _wait_done(relay_env, refused) == -1
        committed = await _request(relay_env, good)
        assert await _wait_done(relay_env, committed) == 21

        marked = certctl(relay_env, "keys", "compromise", kid, "--from-index", "22")
        assert marked.returncode == 0, marked.stderr
        await wait_for_size(relay_env, first_trust, 23)
        await asyncio.to_thread(store, app, lifecycle_commands(0, 20)[1])
        await wait_for_size(relay_env, first_trust, 43)
        assert relay.stop() == 0
    finally:
        relay.kill()

    bootstrap, prefix = relay_env["CERTLIFE_KAFKA_BOOTSTRAP"], relay_env["CERTLIFE_TOPIC_PREFIX"]
    records = await read_topic(bootstrap, prefix + "certlife.log.v1")
    parsed = [parse_record(raw) for raw in records]
    assert [(r.index, r.kind, r.action) for r in parsed[20:23]] == [
        (20, "key", "credential-key"),
        (21, "statuslist", None),
        (22, "key", "compromise"),
    ]
    assert parsed[20].new_key_id == kid and parsed[20].reason == "first credential key"
    assert (parsed[21].purpose, parsed[21].log_size, parsed[21].list_sha256) == ("revocation", 21, digest)
    # The operator's trust file lists the credential key with its state.
    trust = trust_of(relay_env)
    assert [(k.key_id, k.valid_from_index, k.valid_until_index, k.compromised_from_index)
            for k in trust.credential_keys] == [(kid, 21, None, 22)]  # fmt: skip
    # A partner holding only the first trust file learns the same from the log.
    report = verify_log(list(enumerate(records, 1)), [], first_trust)
    assert report.credentials is not None
    assert report.credentials.committed(digest).index == 21
    assert [k.to_json() for k in report.credentials.credential_keys()] == [
        k.to_json() for k in trust.credential_keys
    ]
    # certverify log, from Kafka, with the operator's trust file.
    (tmp_path / "trust.json").write_bytes(trust.to_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.partner.certverify", "log",
         f"kafka://{bootstrap}?prefix={prefix}", "--trust", str(tmp_path / "trust.json"), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, **admin_env()},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    verified = json.loads(result.stdout)
    assert verified["records"] == 43 and verified["checks"]["statuslist"] == 1
    assert verified["checks"]["key-record"] == 2


async def test_an_old_relay_schema_is_widened_in_place(database_url: str, pg_schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(_OLD_SCHEMA.format(s=f'"{pg_schema}"'))
        relay_store = RelayStore(conn, pg_schema)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                f"INSERT INTO \"{pg_schema}\".relay_key_requests (action) VALUES ('statuslist')"
            )
        for _ in range(2):  # idempotent
            await relay_store.create()
        queued = await relay_store.request_key_transition(
            KeyRequest(0, "credential-key", "ab" * 8, None, None, None, public_key=b"\x01" * 32)
        )
        pending = await relay_store.pending_key_requests()
        assert [(r.action, r.new_key_id) for r in pending] == [
            ("rotate", "0" * 16),
            ("credential-key", "ab" * 8),
        ]
        assert pending[1].id == queued and pending[1].public_key == b"\x01" * 32
        with pytest.raises(asyncpg.CheckViolationError):
            await relay_store.request_key_transition(KeyRequest(0, "retire", None, None, None, None))
        assert await relay_store.credential_key_history() == []
    finally:
        await conn.close()


async def test_a_role_that_may_not_widen_the_schema_is_told_to_migrate(
    database_url: str, pg_schema: str
) -> None:
    """The relay's role (no DDL rights) on an old schema: one line naming `certctl db migrate`."""
    from certlife.services.infra.stack import StackSettings, pgroles
    from certlife.services.relay.store import RelaySchemaOutdated

    stack = StackSettings.from_env()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(_OLD_SCHEMA.format(s=f'"{pg_schema}"'))
        await conn.execute(f'GRANT USAGE ON SCHEMA "{pg_schema}" TO "{pgroles.RELAY}"')
        await conn.execute(
            f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA "{pg_schema}" TO "{pgroles.RELAY}"'
        )
        relay = await asyncpg.connect(pgroles.role_url(stack, pgroles.RELAY))
        try:
            with pytest.raises(RelaySchemaOutdated, match="certctl db migrate"):
                await RelayStore(relay, pg_schema).create()
        finally:
            await relay.close()
        await RelayStore(conn, pg_schema).create()  # the owner widens it
    finally:
        await conn.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{pg_schema}" FROM "{pgroles.RELAY}"')
        await conn.close()
