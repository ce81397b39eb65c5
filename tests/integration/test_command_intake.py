"""The command service on the real broker: its intake and its batch worker.

aiokafka fetches a partition again only after its buffered records were taken.
A service that stored a batch before asking for more got, as its next batch,
only the records of the one fetch made right after the last batch was taken;
the rest waited at the broker for another cycle (``certlife.services.commands.intake``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from faststream import FastStream

from certlife.contracts import topics
from certlife.projections.committed import committed_consumer
from certlife.services import bootstrap
from certlife.services.commands import service as command_service
from certlife.services.demo.scenario import Message, generate_commands
from certlife.services.infra.connections import Kafka
from certlife.services.infra.settings import Settings
from tests.kafka import admin, client

pytestmark = pytest.mark.integration

ISSUER = "intake.example"
WAVES, WAVE = 3, 10


@dataclass
class Held:
    """An in-process command service whose first batch is held while it is decided, until ``release``."""

    settings: Settings
    stream: FastStream
    producer: AIOKafkaProducer
    sizes: list[int] = field(default_factory=list)
    first_stored: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    stopped: bool = False

    async def send(self, messages: list[Message]) -> None:
        """Publish ``messages`` to partition 0 (aiokafka refetches a partition only once its
        buffered records are taken)."""
        for key, value in messages:
            await self.producer.send(self.settings.topic(topics.COMMANDS), value, key=key, partition=0)
        await self.producer.flush()

    async def first_batch_in_store(self) -> None:
        assert await asyncio.to_thread(self.first_stored.wait, 60), "the first batch never reached the store"


@pytest.fixture
async def held(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Held]:
    settings = Settings(
        kafka=admin(kafka_bootstrap),
        database_url=database_url,
        db_schema=pg_schema,
        topic_prefix=unique_name(""),
        issuer=ISSUER,
    )
    real = command_service.decide_batch
    stream, _ = command_service.build_command_service(
        settings, bootstrap.build_application(settings), Kafka(admin(kafka_bootstrap))
    )
    service = Held(settings, stream, AIOKafkaProducer(**client(kafka_bootstrap), acks="all"))

    def held_first(app: Any, batch: Any, now: datetime, **kwargs: Any) -> Any:
        service.sizes.append(len(batch))
        if len(service.sizes) == 1:
            service.first_stored.set()
            service.release.wait(60)
        return real(app, batch, now, **kwargs)

    monkeypatch.setattr(command_service, "decide_batch", held_first)
    await stream.start()
    await service.producer.start()
    try:
        yield service
    finally:
        service.release.set()
        await service.producer.stop()
        if not service.stopped:
            await stream.stop()


def _commands(count: int) -> list[Message]:
    return generate_commands(count, 3, issuer=ISSUER, now=datetime.now(UTC) - timedelta(days=1))[:count]


async def test_commands_sent_while_a_batch_is_stored_are_taken_together(held: Held) -> None:
    messages = _commands(WAVES * WAVE + 1)
    await held.send(messages[:1])
    await held.first_batch_in_store()
    for wave in range(WAVES):
        await held.send(messages[1 + wave * WAVE : 1 + (wave + 1) * WAVE])
        await asyncio.sleep(0.5)  # each wave is fetched before the next is sent
    held.release.set()
    async with asyncio.timeout(60):
        while sum(held.sizes) < len(messages):
            await asyncio.sleep(0.05)
    assert held.sizes == [1, WAVES * WAVE], f"batches {held.sizes}: later waves were left for later cycles"


async def test_a_stop_finishes_the_batch_begun_and_takes_no_other(held: Held) -> None:
    messages = _commands(2)
    await held.send(messages[:1])
    await held.first_batch_in_store()
    await held.send(messages[1:])
    await asyncio.sleep(0.5)  # the second command waits in the intake
    held.stopped = True
    stopping = asyncio.ensure_future(held.stream.stop())
    await asyncio.sleep(0.5)
    assert not stopping.done(), "the stop must wait for the batch being stored"
    held.release.set()
    await asyncio.wait_for(stopping, 60)
    assert held.sizes == [1], "a stopping service must not take another batch"
    consumer = committed_consumer(
        held.settings.kafka.client_options(),
        held.settings.topic(topics.COMMAND_RESULTS),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        records = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    outcomes = [orjson.loads(r.value) for batch in records.values() for r in batch]
    assert [o["commandId"] for o in outcomes] == [orjson.loads(messages[0][1])["commandId"]]
