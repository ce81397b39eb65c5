"""Issue 14 end to end on the real stack: relay and publisher, credentials, export, API, status at an instant.

Commands issue, suspend and revoke certificates; a credential key is
generated and announced; the publisher builds the status lists after its
checkpoints and the relay commits them. Then, as an operator and a partner
would: ``certctl credential`` signs credentials from the publisher's tiles,
``certctl export`` writes the log with its committed lists and ``issuer.json``,
``certverify credential`` verifies them against the export (valid, suspended,
revoked), the API serves the same list bytes, and ``certverify status --at``
answers from the export.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from certlife.contracts.records import parse_record
from certlife.services.api.app import ApiOptions, build_app
from certlife.services.commands.application import CertificateApplication
from tests.integration.logcheck import read_topic
from tests.integration.test_relay import (
    certctl,
    lifecycle_commands,
    stack_env,
    store,
    trust_of,
    wait_for_size,
)
from tests.procs import ROOT, ServiceProcess

pytestmark = pytest.mark.integration


def certverify(*args: str) -> tuple[int, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.partner.certverify", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


async def _lists_committed(env: dict[str, str], reflecting: int, timeout: float = 120) -> list[bytes]:
    """The log once both lists reflecting at least ``reflecting`` records are committed."""
    topic = env["CERTLIFE_TOPIC_PREFIX"] + "certlife.log.v1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = await read_topic(env["CERTLIFE_KAFKA_BOOTSTRAP"], topic)
        sizes: dict[str, int] = {}
        for raw in records:
            if b'"kind":"statuslist"' in raw:
                record = parse_record(raw)
                sizes[str(record.purpose)] = max(sizes.get(str(record.purpose), 0), int(record.log_size or 0))
        if len(sizes) == 2 and min(sizes.values()) >= reflecting:
            return records
        await asyncio.sleep(0.5)
    raise AssertionError(f"no status lists reflecting {reflecting} records committed within {timeout}s")


async def test_credentials_lists_export_api_and_status_at(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    pg_env: dict[str, str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    tiles = tmp_path / "tiles"
    env = stack_env(
        kafka_bootstrap, database_url, pg_schema, unique_name("vc") + ".", tmp_path / "keys",
        CERTLIFE_TILES_DIR=str(tiles),
    )  # fmt: skip
    assert certctl(env, "keys", "generate").returncode == 0
    generated = certctl(env, "keys", "credential", "generate")
    assert generated.returncode == 0, generated.stderr
    app = CertificateApplication(env=pg_env)
    relay = ServiceProcess("relay", env, tmp_path).start()
    publisher = ServiceProcess("publisher", env, tmp_path).start()
    try:
        relay.wait_for_log("relay active")
        publisher.wait_for_log("publisher active")
        trust = trust_of(env)
        await asyncio.to_thread(store, app, lifecycle_commands(0, 10)[0])  # RT-00000..09 issued: 0-9
        await wait_for_size(env, trust, 10)
        announced = certctl(env, "keys", "credential", "announce")
        assert announced.returncode == 0, announced.stderr
        await wait_for_size(env, trust, 11)
        await asyncio.to_thread(store, app, lifecycle_commands(0, 6)[1])  # 0-5 suspended: 11-16
        await wait_for_size(env, trust, 17)
        between = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await asyncio.sleep(1.1)  # the revocations take effect a second later
        await asyncio.to_thread(store, app, lifecycle_commands(0, 3)[4])  # 0-2 revoked: 17-19
        records = await _lists_committed(env, 20)
        size = len(records)
        # The publisher's tiles catch up with the commitments before the credentials are built.
        deadline = time.monotonic() + 60
        while not (tiles / "checkpoint").exists() or f"\n{size}\n" not in (tiles / "checkpoint").read_text():
            assert time.monotonic() < deadline, publisher.log_text()[-3000:]
            await asyncio.sleep(0.2)
        credentials = {}
        for number in ("RT-00000", "RT-00004", "RT-00007"):
            out = tmp_path / f"{number}.json"
            made = certctl(env, "credential", number, "--out", str(out))
            assert made.returncode == 0, made.stderr
            assert env["CERTLIFE_KEY_PASSPHRASE"] not in made.stdout + made.stderr
            credentials[number] = out
        export = tmp_path / "export"
        exported = certctl(env, "export", str(export))
        assert exported.returncode == 0, exported.stderr
        assert relay.stop() == 0 and publisher.stop() == 0
    finally:
        relay.kill()
        publisher.kill()
    assert "Traceback" not in publisher.log_text() + relay.log_text()
    # The export: the newest committed lists, and the issuer document naming the credential key.
    assert {"revocation", "suspension"} <= {p.name for p in (export / "statuslists").iterdir()}
    kid = json.loads((export / "trust.json").read_text())["credentialKeys"][0]["keyId"]
    assert json.loads((export / "issuer.json").read_text())["assertionMethod"][0].endswith("#" + kid)
    # The partner verifies each credential against the export.
    expected = {"RT-00000": "status-revoked", "RT-00004": "status-suspended", "RT-00007": None}
    for number, path in credentials.items():
        code, report = certverify("credential", str(path), "--export", str(export))
        failure = report["failure"]
        assert (code, failure and failure["code"]) == (1 if expected[number] else 0, expected[number]), report
    # The API serves the lists the export holds (what the log commits).
    trust_bytes = (export / "trust.json").read_bytes()
    api = build_app(None, '"public"', tiles, trust_bytes, ApiOptions(rate=0))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://api.test"
    ) as client:
        served = await client.get("/statuslists/revocation")
        assert (
            served.status_code == 200
            and served.content == (export / "statuslists" / "revocation").read_bytes()
        )
        committed = {parse_record(r).list_sha256 for r in records if b'"kind":"statuslist"' in r}
        assert hashlib.sha256(served.content).hexdigest() in committed
        assert (await client.get("/issuer")).json()["assertionMethod"][0].endswith("#" + kid)
    # Status at an instant from the export: suspended between the two rounds, revoked now.
    trust_file = str(export / "trust.json")
    code, report = certverify("status", "RT-00000", str(export), "--trust", trust_file, "--at", between)
    assert (code, report["answer"]["status"]) == (0, "suspended"), report  # type: ignore[index]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, report = certverify("status", "RT-00000", str(export), "--trust", trust_file, "--at", now)
    assert (code, report["answer"]["status"]) == (0, "revoked"), report  # type: ignore[index]
