"""``TransactionalPublisher`` on the real broker: one record batch per partition, nothing else changed.

Messages keep their order within each partition, a message without a partition
lands where Kafka's default partitioner puts its key (murmur2, as the Java client
and aiokafka's ``send`` do), headers arrive intact, a group larger than one record
batch (1 MiB) goes out as several, and an aborted transaction shows nothing to a
read-committed consumer. With a codec, the broker stores the batches compressed
and consumers read the same values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from certlife.projections.committed import committed_consumer
from certlife.services.infra.stack import StackSettings
from certlife.services.infra.topics import TopicSpec, ensure_topics
from certlife.services.infra.transactions import Outbound, TransactionalPublisher
from tests.kafka import admin, client

pytestmark = pytest.mark.integration


async def _read(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes | None, bytes, list]]:
    consumer = committed_consumer(client(bootstrap), topic, auto_offset_reset="earliest")
    await consumer.start()
    out: list[tuple[int, bytes | None, bytes, list]] = []
    try:
        async with asyncio.timeout(60):
            while len(out) < count:
                for tp, msgs in (await consumer.getmany(timeout_ms=500)).items():
                    out += [(tp.partition, m.key, m.value or b"", list(m.headers)) for m in msgs]
    finally:
        await consumer.stop()
    return out


async def test_batches_per_partition_keep_order_placement_and_headers(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    keyed, fixed = unique_name("keyed"), unique_name("fixed")
    await ensure_topics(admin(kafka_bootstrap), [TopicSpec(keyed, 4), TopicSpec(fixed, 1)])
    publisher = TransactionalPublisher(
        unique_name("tx"), lambda **o: AIOKafkaProducer(**client(kafka_bootstrap), **o)
    )
    await publisher.start()
    try:
        big = b"x" * 1000  # 1,500 of them to partition 0: more than one 1 MiB record batch
        messages = [Outbound(fixed, str(i).encode(), big + str(i).encode(), partition=0) for i in range(1500)]
        messages += [
            Outbound(keyed, f"CERT-{i % 37}".encode(), f"{i}".encode(), (("h", str(i).encode()),))
            for i in range(400)
        ]
        await publisher.publish(messages)
        with pytest.raises(RuntimeError):  # an aborted transaction: none of its messages is seen
            async with publisher.producer.transaction():
                await publisher.producer.send(keyed, b"aborted", key=b"CERT-1")
                raise RuntimeError("abort")
    finally:
        await publisher.stop()

    fixed_read = await _read(kafka_bootstrap, fixed, 1500)
    assert [v for _, _, v, _ in fixed_read] == [big + str(i).encode() for i in range(1500)]
    keyed_read = await _read(kafka_bootstrap, keyed, 400)
    assert len(keyed_read) == 400 and b"aborted" not in {v for _, _, v, _ in keyed_read}
    for partition, key, value, headers in keyed_read:
        assert key is not None and partition == (murmur2(key) & 0x7FFFFFFF) % 4
        assert headers == [("h", value)]
    for k in range(37):  # each key's messages in publishing order
        key = f"CERT-{k}".encode()
        values = [int(v) for _, mk, v, _ in keyed_read if mk == key]
        assert values == sorted(values) and len(values) == len(range(k, 400, 37))


def _stored_bytes(topic: str) -> int:
    """The size of the local broker's log segments of ``topic``'s partition 0."""
    stack = StackSettings.from_env()
    folder = stack.state / "kafka" / "data" / f"{topic}-0"
    assert folder.is_dir(), f"{folder} missing: this test reads the local stack broker's log directory"
    return sum(segment.stat().st_size for segment in folder.glob("*.log"))


@pytest.mark.parametrize("codec", ["lz4", "zstd", "gzip"])
async def test_compressed_batches_are_stored_compressed_and_read_back_unchanged(
    kafka_bootstrap: str, unique_name: Callable[[str], str], codec: str
) -> None:
    assert StackSettings.from_env().serves(kafka_bootstrap), "runs on the local stack's broker"
    plain, packed = unique_name("plain"), unique_name(codec)
    await ensure_topics(admin(kafka_bootstrap), [TopicSpec(plain, 1), TopicSpec(packed, 1)])
    values = [
        b'{"holder":"Volt Mobility Co., Ltd.","seq":%d,"pad":"%s"}' % (i, b"ab" * 400) for i in range(600)
    ]
    payload = sum(len(v) for v in values)
    for topic, compression in ((plain, None), (packed, codec)):
        publisher = TransactionalPublisher(
            unique_name("tx"),
            lambda **o: AIOKafkaProducer(**client(kafka_bootstrap), **o),
            compression=compression,
        )
        await publisher.start()
        try:
            await publisher.publish([Outbound(topic, b"k", v, partition=0) for v in values])
        finally:
            await publisher.stop()
        assert [v for _, _, v, _ in await _read(kafka_bootstrap, topic, len(values))] == values
    assert _stored_bytes(plain) > payload  # the measure sees the records as written
    assert _stored_bytes(packed) < payload / 5
