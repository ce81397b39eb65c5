"""``certverify log kafka://…`` against the real broker: committed messages only, to the end offsets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from certlife.contracts import topics
from certlife.services.infra.topics import TopicSpec, ensure_topics
from tests.kafka import admin, admin_env, client
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


async def _publish(bootstrap: str, prefix: str, b: LogBuilder, forged: bytes) -> None:
    await ensure_topics(
        admin(bootstrap), [TopicSpec(prefix + topics.LOG), TopicSpec(prefix + topics.CHECKPOINTS)]
    )
    producer = AIOKafkaProducer(**client(bootstrap), transactional_id=f"t-{uuid.uuid4().hex}")
    await producer.start()
    try:
        async with producer.transaction():
            for index, raw in enumerate(b.records):
                await producer.send(prefix + topics.LOG, raw, key=str(index).encode(), partition=0)
            for size, note in b.checkpoints:
                await producer.send(
                    prefix + topics.CHECKPOINTS, note.encode(), key=str(size).encode(), partition=0
                )
        # An aborted transaction: a reader with read_committed never sees it.
        await producer.begin_transaction()
        await producer.send(prefix + topics.LOG, forged, partition=0)
        await producer.send_and_wait(prefix + topics.LOG, forged, partition=0)
        await producer.abort_transaction()
    finally:
        await producer.stop()


async def test_log_from_kafka_verifies_committed_records(
    kafka_bootstrap: str, unique_name: object, tmp_path: Path
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    b = LogBuilder()
    b.issue_many(30)
    b.checkpoint()
    b.rotate("k1")
    b.issue_many(6, "D")
    b.checkpoint()
    forged = b.cert_record("C-0001", "revoked", "revoked", index=999)
    await _publish(kafka_bootstrap, prefix, b, forged)
    (tmp_path / "trust.json").write_bytes(b.trust().to_bytes())
    source = f"kafka://{kafka_bootstrap}?prefix={prefix}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certlife.services.partner.certverify",
            "log",
            source,
            "--trust",
            str(tmp_path / "trust.json"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, **admin_env()},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["records"] == report["inputs"] == len(b.records)
    assert report["checks"]["checkpoint-root"] == 2 and report["unanchored"] == 0


def test_unreachable_broker_is_an_input_error(tmp_path: Path) -> None:
    b = LogBuilder()
    (tmp_path / "trust.json").write_bytes(b.trust().to_bytes())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certlife.services.partner.certverify",
            "log",
            "kafka://127.0.0.1:1",
            "--trust",
            str(tmp_path / "trust.json"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, **admin_env()},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "certverify: error: cannot reach Kafka at 127.0.0.1:1 as principal User:admin"
    )
