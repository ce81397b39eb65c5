"""Read a whole topic (every partition, committed messages only) once the traffic has settled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from certlife.projections.committed import committed_consumer


@dataclass(frozen=True)
class Message:
    """One committed message."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int  # ms since the epoch (the producer's create time)


async def read_all(client: dict[str, Any], topic: str) -> list[Message]:
    """Every committed message of ``topic``, partition by partition, in offset order.

    ``client``: aiokafka options of a principal that may read it (the stack's admin: the
    operator's CLI principal may not read the commands topic).
    """
    consumer = committed_consumer(client)
    await consumer.start()
    try:
        partitions = await _partitions(client, topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Message] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, msgs in batch.items():
                out += [
                    Message(tp.partition, m.offset, m.key, m.value, m.timestamp)
                    for m in msgs
                    if m.value is not None
                ]
        return sorted(out, key=lambda m: (m.partition, m.offset))
    finally:
        await consumer.stop()


async def _partitions(client: dict[str, Any], topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(**client)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        return sorted(int(p["partition"]) for p in described[0]["partitions"])
    finally:
        await admin.close()
