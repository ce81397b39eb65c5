"""The harness is real: transactions, idempotence and a database round trip."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.kafka import client

pytestmark = pytest.mark.integration


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(**client(bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _drain(bootstrap: str, topic: str, isolation: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        **client(bootstrap),
        isolation_level=isolation,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        while batch := await consumer.getmany(timeout_ms=1500):
            values += [m.value for msgs in batch.values() for m in msgs if m.value is not None]
        return values
    finally:
        await consumer.stop()


async def test_transactional_producer_commit_and_abort(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("tx")
    await _create_topic(kafka_bootstrap, topic)
    producer = AIOKafkaProducer(**client(kafka_bootstrap), transactional_id=unique_name("txid"))
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(3):
                await producer.send(topic, f"committed-{i}".encode())
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3")
    finally:
        await producer.stop()

    committed = await _drain(kafka_bootstrap, topic, "read_committed")
    assert committed == [b"committed-0", b"committed-1", b"committed-2", b"committed-3"]
    # read_uncommitted does see the aborted message: the broker really ran a transaction
    uncommitted = await _drain(kafka_bootstrap, topic, "read_uncommitted")
    assert b"aborted" in uncommitted


async def test_idempotent_producer_round_trip(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("idem")
    await _create_topic(kafka_bootstrap, topic)
    producer = AIOKafkaProducer(**client(kafka_bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, f"m{i}".encode(), key=b"k") for i in range(5)]
    finally:
        await producer.stop()
    assert [r.offset for r in sent] == [0, 1, 2, 3, 4]
    assert await _drain(kafka_bootstrap, topic, "read_committed") == [f"m{i}".encode() for i in range(5)]


async def test_asyncpg_round_trip_in_fresh_schema(database_url: str, pg_schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE TABLE "{pg_schema}".probe (id int primary key, note text)')
        await conn.executemany(f'INSERT INTO "{pg_schema}".probe VALUES ($1, $2)', [(1, "a"), (2, "b")])
        rows = await conn.fetch(f'SELECT id, note FROM "{pg_schema}".probe ORDER BY id')
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", pg_schema
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]
    assert tables == 1
