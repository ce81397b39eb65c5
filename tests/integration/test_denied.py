"""A running service whose Kafka grants are taken away exits with one line, and runs again once they are back.

faststream retries any Kafka error every 5 s, a refused authorization too: before,
the projections logged "Kafka error occurred" until someone restarted them. Now
the command service and the projections stop at the first refusal with one line
naming their principal and what was refused (exit 1, no traceback); under
``certctl serve all`` the supervisor restarts them, and a restart runs as soon
as the grants are back (its preflight checks them).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from certlife.services.demo.setup import READY, DemoRun
from certlife.services.infra import principals
from certlife.services.infra.kafka_admin import KafkaAdmin
from tests.kafka import admin
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", ["projections", "commands"])
async def test_a_service_whose_grants_are_revoked_exits_with_one_line(
    service: str, kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    run = DemoRun.create(kafka_bootstrap, database_url, f"deny{uuid.uuid4().hex[:6]}")
    await run.create_schemas()
    await asyncio.to_thread(run.provision_kafka)  # the services run as their own principals
    who = principals.service(service, run.settings.topic_prefix)
    proc = ServiceProcess(service, run.service_env(service), tmp_path).start()
    await asyncio.to_thread(proc.wait_for_log, READY[service], 90)
    async with KafkaAdmin(admin()) as kafka:
        grants = await kafka.acls(who.principal)
        assert grants
        revoked = time.monotonic()
        await kafka.delete_acls(who.principal)
        try:
            while proc.running() and time.monotonic() - revoked < 90:
                await asyncio.sleep(0.2)
            took = time.monotonic() - revoked
            text = proc.log_text()
            assert not proc.running(), text[-3000:]
            assert proc.returncode == 1, text[-3000:]
            last = text.strip().splitlines()[-1]
            assert last.startswith(
                f"certctl: error: Kafka at {kafka_bootstrap} denied principal {who.principal}"
            )
            assert "Traceback" not in text and "Kafka error occurred" not in text, text[-3000:]
            print(f"\n{service} exited {took:.1f} s after its grants were revoked: {last}")
        finally:
            await kafka.create_acls(grants)
    again = ServiceProcess(service, run.service_env(service), tmp_path / "again").start()
    try:
        await asyncio.to_thread(again.wait_for_log, READY[service], 90)  # with its grants back it runs
        assert again.running()
    finally:
        again.stop()
        proc.stop()
