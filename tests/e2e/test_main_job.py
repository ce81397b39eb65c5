"""The README's main command on a reduced scenario, against real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.procs import ROOT, service_env

pytestmark = pytest.mark.e2e


def test_main_job_end_to_end(kafka_bootstrap: str, database_url: str) -> None:
    env = service_env({"CERTLIFE_KAFKA_BOOTSTRAP": kafka_bootstrap, "CERTLIFE_DATABASE_URL": database_url})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certlife.services.demo.main",
            "--certificates",
            "30",
            "--seed",
            "7",
            "--timeout",
            "180",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "RESULT: every check passed" in result.stdout
    steps = (
        "mirror (verify, then apply)",
        "verify whole log from Kafka",
        "verify whole log over HTTP tiles",
        "verify proof bundle",
        "verify tlog-proof",
    )
    for step in steps:
        assert re.search(rf"\[ok  \] {re.escape(step)}", result.stdout), step
    # Two partner bodies' witnesses cosigned; the partner verified Kafka and tiles under 2-of-2.
    assert "newest checkpoint cosigned by: partner-a, partner-b" in result.stdout
    for source in ("from Kafka with the kit", "over HTTP tiles"):
        assert re.search(
            rf"verify whole log {source}\s+checkpoint \d+ cosigned by partner-a, partner-b", result.stdout
        )
    run_dir = Path(re.search(r"logs, trust.json, export and bundle: (\S+)", result.stdout).group(1))  # type: ignore[union-attr]
    assert (run_dir / "bundle.json").exists() and (run_dir / "export" / "log.jsonl").exists()
    run_id = run_dir.name
    internal, mirrored = asyncio.run(_statuses(database_url, f"demo_{run_id}", f"mirror_{run_id}"))
    assert len(internal) >= 30
    assert mirrored == internal
    assert {"valid", "revoked"} <= set(internal.values())
    # Least privilege: each service ran as its own Kafka principal and PostgreSQL role,
    # and the partner lab used only its kit.
    for service in ("commands", "relay", "projections"):
        log = (run_dir / "logs" / f"{service}.log").read_text()
        assert (
            f"{service} runs as Kafka principal User:demo{run_id}.certlife-{service} "
            f"and PostgreSQL role certlife_{service}"
        ) in log, service
    kit = (run_dir / "partner-kit" / "kafka.env").read_text()
    assert f"CERTLIFE_KAFKA_USERNAME=demo{run_id}.partner.lab" in kit
    assert oct((run_dir / "partner-kit" / "password").stat().st_mode & 0o777) == "0o600"
    for step in ("mirror (verify, then apply) with the kit", "verify whole log from Kafka with the kit"):
        assert re.search(rf"\[ok  \] {re.escape(step)}", result.stdout), step
    assert (run_dir / "proof.tlog").read_text().startswith("c2sp.org/tlog-proof@v1\n")
    for label in ("a", "b"):
        assert "cosigned" in (run_dir / "logs" / f"witness-{label}.log").read_text()
    # The operator's services ran under one supervisor (certctl serve all's); the API answered.
    supervised = (run_dir / "logs" / "supervisor.log").read_text()
    for service in ("commands", "relay", "projections", "publisher", "tiles", "api"):
        assert f"started {service} (pid" in supervised and f"stopped {service} (" in supervised, service
    assert "witness" not in supervised  # the partners' witnesses are their own processes
    assert re.search(
        r"\[ok  \] status API answers \S+: HTTP 200, status (\w+), read model \1, proof True", result.stdout
    )
    assert re.search(r"lookup page at http://127\.0\.0\.1:\d+/", result.stdout)
    # Every service process the main job started has stopped.
    assert _processes_with(f"CERTLIFE_TOPIC_PREFIX=demo{run_id}.".encode()) == []


def _processes_with(marker: bytes) -> list[int]:
    """Pids whose environment contains ``marker`` (the run's service processes)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


async def _statuses(database_url: str, schema: str, mirror: str) -> tuple[dict[str, str], dict[str, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        internal = dict(await conn.fetch(f'SELECT number, status FROM "{schema}".certificates'))
        mirrored = dict(await conn.fetch(f'SELECT number, status FROM "{mirror}".mirror_certificates'))
        return internal, mirrored
    finally:
        await conn.close()
