"""A service's faststream broker, on the real broker: per-batch access lines at DEBUG, failures at ERROR."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from certlife.services.infra.connections import Kafka
from certlife.services.infra.topics import TopicSpec, ensure_topics
from tests.kafka import admin


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
async def test_received_and_processed_lines_only_at_debug(
    level: int, kafka_bootstrap: str, unique_name: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique_name("access")
    await ensure_topics(admin(kafka_bootstrap), [TopicSpec(topic, 1)])
    logger = logging.getLogger("certlife.test.access")
    broker = Kafka(admin(kafka_bootstrap)).broker(logger)
    handled: asyncio.Queue[bytes] = asyncio.Queue()

    @broker.subscriber(topic, group_id=unique_name("group"), auto_offset_reset="earliest")
    async def handle(body: bytes) -> None:
        handled.put_nowait(body)
        if body == b"bad":
            raise ValueError("refused bad")

    caplog.set_level(level, logger=logger.name)
    await broker.start()
    try:
        await broker.publish(b"good", topic)
        await broker.publish(b"bad", topic)
        assert [await asyncio.wait_for(handled.get(), 30) for _ in range(2)] == [b"good", b"bad"]
        await asyncio.sleep(0.5)  # the second message's closing lines
    finally:
        await broker.stop()
    access = [r for r in caplog.records if r.getMessage() in ("Received", "Processed")]
    if level == logging.DEBUG:
        assert len(access) >= 3 and {r.levelno for r in access} == {logging.DEBUG}
    else:
        assert access == []
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "ValueError: refused bad" in errors
