"""``certverify status NUMBER --database DSN``: a real mirror; an unknown answer exits 1, never VERIFIED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from certlife.contracts import topics
from certlife.services.infra.topics import TopicSpec, ensure_topics
from tests.kafka import admin, admin_env, client
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


async def _publish(bootstrap: str, prefix: str, b: LogBuilder) -> None:
    await ensure_topics(
        admin(bootstrap), [TopicSpec(prefix + topics.LOG), TopicSpec(prefix + topics.CHECKPOINTS)]
    )
    producer = AIOKafkaProducer(**client(bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for index, raw in enumerate(b.records):
            await producer.send(prefix + topics.LOG, raw, key=str(index).encode(), partition=0)
        for size, note in b.checkpoints:
            await producer.send(
                prefix + topics.CHECKPOINTS, note.encode(), key=str(size).encode(), partition=0
            )
        await producer.flush()
    finally:
        await producer.stop()


def _certverify(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certlife.services.partner.certverify", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, **admin_env()},
    )


async def test_status_from_the_mirror_exits_1_when_the_answer_is_unknown(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    b = LogBuilder()
    b.issue_many(5)
    b.add("C-0002", "suspended", "suspended")
    b.checkpoint()
    prefix = unique_name("status") + "."
    await _publish(kafka_bootstrap, prefix, b)
    trust = tmp_path / "trust.json"
    trust.write_bytes(b.trust().to_bytes())
    mirrored = _certverify(
        "mirror", "--bootstrap", kafka_bootstrap, "--database", database_url, "--trust", str(trust),
        "--schema", pg_schema, "--topic-prefix", prefix, "--once", "--json",
    )  # fmt: skip
    assert mirrored.returncode == 0, mirrored.stdout + mirrored.stderr
    assert json.loads(mirrored.stdout)["records"] == len(b.records)
    database = ("--database", database_url, "--schema", pg_schema)

    known = _certverify("status", "C-0002", *database)
    assert known.returncode == 0, known.stdout + known.stderr
    assert "status of C-0002: suspended" in known.stdout and known.stdout.rstrip().endswith("VERIFIED")

    unknown = _certverify("status", "NO-SUCH", *database)
    assert unknown.returncode == 1, unknown.stdout + unknown.stderr
    assert "status of NO-SUCH: unknown" in unknown.stdout
    assert all(
        not line.endswith("VERIFIED") or line.startswith("NOT") for line in unknown.stdout.splitlines()
    )
    report = json.loads(_certverify("status", "NO-SUCH", *database, "--json").stdout)
    assert report["ok"] is False and report["answer"]["status"] == "unknown"
    assert report["failure"]["code"] == "certificate-not-found"

    stale = _certverify("status", "C-0002", *database, "--max-age", "1h", "--json")  # records from 2025
    assert stale.returncode == 1, stale.stdout + stale.stderr
    report = json.loads(stale.stdout)
    assert report["answer"]["status"] == "unknown" and report["failure"]["code"] == "stale-checkpoint"
