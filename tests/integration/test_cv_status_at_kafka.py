"""``certverify status NUMBER kafka://… --at INSTANT`` against the real broker: the same answers as an export."""

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


async def _publish(bootstrap: str, prefix: str, b: LogBuilder) -> None:
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
    finally:
        await producer.stop()


def _status_at(source: str, trust: Path, number: str, at: str) -> tuple[int, dict[str, object]]:
    argv = ["status", number, source, "--trust", str(trust), "--at", at, "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.partner.certverify", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, **admin_env()},
    )
    return result.returncode, json.loads(result.stdout)


async def test_status_at_from_kafka(kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    b = LogBuilder()
    b.issue_many(12)  # C-0000 issued at index 0, suspended at 12, reinstated at 13
    b.add("C-0001", "revoked", "revoked")
    b.checkpoint()
    await _publish(kafka_bootstrap, prefix, b)
    trust = tmp_path / "trust.json"
    trust.write_bytes(b.trust().to_bytes())
    source = f"kafka://{kafka_bootstrap}?prefix={prefix}"
    cases = [
        ("C-0000", b.time(12), 0, "suspended"),
        ("C-0000", b.time(13), 0, "valid"),
        ("C-0001", b.time(len(b.records) - 1), 0, "revoked"),
        ("C-0000", "2024-01-01T00:00:00Z", 1, "unknown"),
    ]
    for number, at, code, status in cases:
        got, report = _status_at(source, trust, number, at)
        answer = report["answer"]
        assert isinstance(answer, dict)
        assert (got, answer["status"]) == (code, status), (number, at, report)
    export = b.write_export(tmp_path / "export")
    from_kafka = _status_at(source, trust, "C-0000", b.time(12))[1]
    from_export = _status_at(str(export), trust, "C-0000", b.time(12))[1]
    assert from_kafka["answer"] == from_export["answer"]
    assert from_kafka["evidence"] == from_export["evidence"]
