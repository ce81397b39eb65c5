"""The command service on the real broker and database: a batch is decided while the one before is stored.

When storing a batch fails after the next batch was decided on top of it, neither
is published as decided: both are decided again from the store, one after the
other, and each command still gets exactly one outcome.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from certlife.contracts import topics
from certlife.projections.committed import committed_consumer
from certlife.services import bootstrap
from certlife.services.commands import service as command_service
from certlife.services.commands.application import Decided
from certlife.services.demo.scenario import generate_commands
from certlife.services.infra.connections import Kafka
from certlife.services.infra.settings import Settings
from tests.kafka import admin, client

pytestmark = pytest.mark.integration

ISSUER = "pipeline.example"


def _issues(count: int) -> list[bytes]:
    """``count`` issue commands for different certificates (the demo scenario's)."""
    messages = generate_commands(count, 3, issuer=ISSUER, now=datetime.now(UTC) - timedelta(days=1))
    return [value for _, value in messages if orjson.loads(value)["type"] == "issue"][:count]


def _suspend(cid: str, number: str) -> bytes:
    return orjson.dumps(
        {"type": "suspend", "commandId": cid, "issuer": ISSUER, "number": number, "reason": "audit"}
    )


async def test_a_failed_store_redecides_the_batch_decided_on_top_of_it(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        kafka=admin(kafka_bootstrap),
        database_url=database_url,
        db_schema=pg_schema,
        topic_prefix=unique_name(""),
        issuer=ISSUER,
    )
    app = bootstrap.build_application(settings)
    second_sent = threading.Event()
    second_decided = threading.Event()
    decided: list[list[str]] = []
    real_decide = command_service.decide_batch

    def decide(app_: Any, batch: Any, now: datetime, **kwargs: Any) -> Any:
        decided.append([orjson.loads(m.value)["commandId"] for m in batch])
        if len(decided) == 1:  # let the second batch reach the intake: it is decided on this one
            assert second_sent.wait(60)
        result = real_decide(app_, batch, now, **kwargs)
        if len(decided) == 2:
            second_decided.set()
        return result

    real_commit = app.commit
    commits: list[int] = []

    def commit(d: Decided) -> None:
        commits.append(len(d.outcomes))
        if len(commits) == 1:  # the first batch's store fails once the second is decided on it
            assert second_decided.wait(60)
            raise RuntimeError("the database went away")
        real_commit(d)

    monkeypatch.setattr(command_service, "decide_batch", decide)
    monkeypatch.setattr(app, "commit", commit)
    stream, _ = command_service.build_command_service(settings, app, Kafka(admin(kafka_bootstrap)))
    producer = AIOKafkaProducer(**client(kafka_bootstrap), acks="all")
    commands_topic = settings.topic(topics.COMMANDS)
    issue_1, issue_2 = _issues(2)
    p1, p2 = orjson.loads(issue_1)["number"], orjson.loads(issue_2)["number"]
    i1, i2 = orjson.loads(issue_1)["commandId"], orjson.loads(issue_2)["commandId"]
    first = [issue_1]
    second = [_suspend("s-1", p1), issue_1, issue_2]  # the issue again: a repeated command
    await stream.start()
    await producer.start()
    try:
        for value in first:
            await producer.send_and_wait(commands_topic, value, key=b"P", partition=0)
        async with asyncio.timeout(60):
            while not decided:
                await asyncio.sleep(0.05)
        for value in second:
            await producer.send(commands_topic, value, key=b"P", partition=0)
        await producer.flush()
        await asyncio.sleep(1)  # fetched into the intake while the first batch is decided
        second_sent.set()
        consumer = committed_consumer(
            settings.kafka.client_options(),
            settings.topic(topics.COMMAND_RESULTS),
            auto_offset_reset="earliest",
        )
        await consumer.start()
        outcomes: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(60):
                while len(outcomes) < 4:
                    records = await consumer.getmany(timeout_ms=1000)
                    outcomes += [orjson.loads(r.value) for part in records.values() for r in part]
            await asyncio.sleep(1)  # nothing more may come
            records = await consumer.getmany(timeout_ms=1000)
            outcomes += [orjson.loads(r.value) for part in records.values() for r in part]
        finally:
            await consumer.stop()
    finally:
        await producer.stop()
        await stream.stop()
        app.close()
    # The second batch was decided on the first while the first was being stored; that store
    # failed: the first was decided and stored again on its own, then the second decided again.
    assert decided == [[i1], ["s-1", i1, i2], ["s-1", i1, i2]], f"batches decided: {decided}"
    assert commits == [1, 1, 3], f"stores: {commits}"
    got = [(o["commandId"], o["status"], o.get("event"), o.get("version")) for o in outcomes]
    assert sorted(got) == sorted(  # one outcome per command (keyed by commandId: in any order)
        [
            (i1, "accepted", "issued", 1),
            ("s-1", "accepted", "suspended", 2),
            (i1, "accepted", "issued", 1),
            (i2, "accepted", "issued", 1),
        ]
    )
    check = bootstrap.build_application(settings)
    try:
        assert [e.status for e in check.history(p1, ISSUER)] == ["valid", "suspended"]
        assert [e.status for e in check.history(p2, ISSUER)] == ["valid"]
    finally:
        check.close()
