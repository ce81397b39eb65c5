"""The relay's Kafka side: read back what is committed.

Every function takes ``open_consumer``, the composition root's consumer
factory (``certlife.services.infra.connections.Kafka.consumer``), and stops
each consumer it opened before it returns.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition

from certlife.projections.committed import OpenConsumer
from certlife.services.relay.state import RelayState

_TAIL = 64


class _Lent:
    """A started consumer lent to one reader at a time: its ``start`` and ``stop`` are the lender's."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)

    async def start(self) -> None:
        """Already started."""

    async def stop(self) -> None:
        """Stays open for the next reader."""


@contextlib.asynccontextmanager
async def one_connection(open_consumer: OpenConsumer) -> AsyncIterator[OpenConsumer]:
    """A consumer factory for the functions below that hands each of them the same started
    consumer, one after the other: a start-up that reads several topics pays for one TLS and
    SASL handshake instead of one per read. The consumer stops when the block ends."""
    consumer = open_consumer(auto_offset_reset="earliest")
    await consumer.start()
    try:
        yield cast(OpenConsumer, lambda *_, **__: _Lent(consumer))
    finally:
        await consumer.stop()


async def _consumer(open_consumer: OpenConsumer) -> AIOKafkaConsumer:
    consumer = open_consumer(auto_offset_reset="earliest")
    await consumer.start()
    return consumer


async def read_from(
    open_consumer: OpenConsumer, topic: str, start: int
) -> AsyncGenerator[tuple[int, bytes], None]:
    """Committed ``(offset, value)`` of partition 0 of ``topic`` from ``start`` to the end."""
    consumer = await _consumer(open_consumer)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if start >= end:
            return
        consumer.seek(tp, start)
        while (await consumer.position(tp)) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=2000)
            for msg in batch.get(tp, []):
                if msg.value is not None:
                    yield msg.offset, msg.value
    finally:
        await consumer.stop()


async def end_offset(open_consumer: OpenConsumer, topic: str) -> int:
    """The end offset of partition 0 of ``topic`` (0 for an empty topic)."""
    consumer = await _consumer(open_consumer)
    try:
        tp = TopicPartition(topic, 0)
        return (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()


async def has_committed_records(open_consumer: OpenConsumer, topic: str) -> bool:
    """True if partition 0 of ``topic`` holds a committed record (aborted ones and markers do not count)."""
    async with contextlib.aclosing(read_from(open_consumer, topic, 0)) as records:
        async for _ in records:
            return True
    return False


async def last_committed_state(open_consumer: OpenConsumer, topic: str) -> RelayState | None:
    """The newest committed relay-state message, or None when the log was never written."""
    end = await end_offset(open_consumer, topic)
    last: bytes | None = None
    start = max(0, end - _TAIL)
    while last is None and end > 0:
        async for _, value in read_from(open_consumer, topic, start):
            last = value
        if start == 0:
            break
        start = max(0, start - _TAIL * 16)
    return None if last is None else RelayState.from_bytes(last)
