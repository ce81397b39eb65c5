"""The command service on the real broker: what arrives while a batch is stored is the next batch.

aiokafka fetches a partition again only after its buffered records were taken.
A service that stored a batch before asking for more got, as its next batch,
only the records of the one fetch made right after the last batch was taken;
the rest waited at the broker for another cycle (``certlife.services.commands.intake``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from certlife.contracts import topics
from certlife.services import bootstrap
from certlife.services.commands import service as command_service
from certlife.services.demo.scenario import generate_commands
from certlife.services.infra.connections import Kafka
from certlife.services.infra.settings import Settings
from tests.kafka import admin, client

pytestmark = pytest.mark.integration

ISSUER = "intake.example"
WAVES, WAVE = 3, 10


async def test_commands_sent_while_a_batch_is_stored_are_taken_together(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        kafka=admin(kafka_bootstrap),
        database_url=database_url,
        db_schema=pg_schema,
        topic_prefix=unique_name(""),
        issuer=ISSUER,
    )
    sizes: list[int] = []
    first_stored, release = threading.Event(), threading.Event()
    real = command_service.process_batch

    def held_first(app: Any, batch: Any, now: datetime, **kwargs: Any) -> Any:
        sizes.append(len(batch))
        if len(sizes) == 1:  # the first batch is stored until every wave has reached the broker
            first_stored.set()
            release.wait(60)
        return real(app, batch, now, **kwargs)

    monkeypatch.setattr(command_service, "process_batch", held_first)
    stream, _ = command_service.build_command_service(
        settings, bootstrap.build_application(settings), Kafka(admin(kafka_bootstrap))
    )
    messages = generate_commands(
        WAVES * WAVE + 1, 3, issuer=ISSUER, now=datetime.now(UTC) - timedelta(days=1)
    )[: WAVES * WAVE + 1]
    producer = AIOKafkaProducer(**client(kafka_bootstrap), acks="all")
    await stream.start()
    await producer.start()
    try:
        commands = settings.topic(topics.COMMANDS)
        # One partition: aiokafka refetches a partition only once its buffered records are taken.
        await producer.send_and_wait(commands, messages[0][1], key=messages[0][0], partition=0)
        assert await asyncio.to_thread(first_stored.wait, 60), "the first batch never reached the store"
        for wave in range(WAVES):
            for key, value in messages[1 + wave * WAVE : 1 + (wave + 1) * WAVE]:
                await producer.send(commands, value, key=key, partition=0)
            await producer.flush()
            await asyncio.sleep(0.5)  # each wave is fetched before the next is sent
        release.set()
        async with asyncio.timeout(60):
            while sum(sizes) < len(messages):
                await asyncio.sleep(0.05)
    finally:
        release.set()
        await producer.stop()
        await stream.stop()
    assert sizes == [1, WAVES * WAVE], f"batches {sizes}: later waves were left for later cycles"
