"""Exactly-once publishing: one Kafka transaction per batch, offsets included.

The one transactional publisher of certlife: the command service (outcomes,
dead letters and consumer offsets) and the relay (records, events, checkpoint,
relay state) both publish through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.producer import sender as aiokafka_sender
from aiokafka.structs import OffsetAndMetadata

from certlife.services.infra.partitioner import KeyPartitioner


@dataclass(frozen=True)
class Outbound:
    """One message to publish in a transaction (``partition`` None: by key)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None


class OpenProducer(Protocol):
    """``AIOKafkaProducer`` with the endpoint bound (``certlife.services.infra.connections.Kafka.producer``)."""

    def __call__(self, **options: Any) -> AIOKafkaProducer:
        """An unstarted producer with ``options``."""
        ...


class TransactionalPublisher:
    """An aiokafka transactional producer; a second one with the same id fences the first.

    Built by the composition root's Kafka connector
    (``certlife.services.infra.connections.Kafka.publisher``), which binds the
    endpoint; the exactly-once settings of the producer are this class's.
    """

    def __init__(
        self, transactional_id: str, open_producer: OpenProducer, *, compression: str | None = None
    ) -> None:
        """Prepare (not connect) a producer with ``transactional_id``, opened by ``open_producer``;
        its record batches are compressed with ``compression`` (an aiokafka codec name; None: not)."""
        self.transactional_id = transactional_id
        self.compression = compression
        self._open_producer = open_producer
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = KeyPartitioner()

    async def start(self) -> None:
        """Connect and register the transactional id (fencing older instances)."""
        _prompt_retry_after_commit()
        self._producer = self._open_producer(
            transactional_id=self.transactional_id,
            enable_idempotence=True,
            acks="all",
            # No linger: a transaction's messages are all appended before its first
            # await, so they batch anyway, and lingering only delays each commit.
            linger_ms=0,
            max_batch_size=1 << 20,
            max_request_size=8 << 20,
            # The broker keeps and serves a producer's compressed batches as they are: JSON
            # records shrink several times, and with them the TLS bytes every consumer fetch
            # costs the broker (its largest CPU cost at moderate rates: see issue 12's note).
            compression_type=self.compression,
            # Kafka 4 brokers verify a transactional produce with the transaction coordinator
            # (KIP-890); while the previous transaction's markers are still being written the
            # answer is the retriable NOT_ENOUGH_REPLICAS, and aiokafka's default 100 ms backoff
            # then stalled 3-4 % of back-to-back transactions (and every batch queued behind).
            retry_backoff_ms=RETRY_BACKOFF_MS,
        )
        await self._producer.start()

    @property
    def producer(self) -> AIOKafkaProducer:
        """The started producer."""
        if self._producer is None:
            raise RuntimeError("TransactionalPublisher.start() was not awaited")
        return self._producer

    async def stop(self) -> None:
        """Disconnect; an open transaction is aborted by the broker."""
        if self._producer is not None:
            await self._producer.stop()

    async def publish(
        self,
        messages: Sequence[Outbound],
        offsets: dict[TopicPartition, int] | None = None,
        group_id: str | None = None,
    ) -> None:
        """Publish ``messages`` and commit consumer ``offsets`` atomically.

        The messages go out as one record batch per partition, in their order
        (``AIOKafkaProducer.send`` per message would cost a future, a partitioner
        call and an accumulator lookup each: most of the publishing CPU of a
        thousand-record relay batch). A message without a partition goes where
        ``send`` would put it: Kafka's default key partitioning over the topic's partitions
        (``KeyPartitioner``, aiokafka's default computed natively).
        """
        producer = self.producer
        placed = await self._placed(messages)
        async with producer.transaction():
            futures = []
            for (topic, partition), group in placed.items():
                batch = producer.create_batch()
                for m in group:
                    if (
                        batch.append(key=m.key, value=m.value, timestamp=None, headers=list(m.headers))
                        is None
                    ):
                        futures.append(await producer.send_batch(batch, topic, partition=partition))
                        batch = producer.create_batch()  # full (max_batch_size): the next one
                        batch.append(key=m.key, value=m.value, timestamp=None, headers=list(m.headers))
                futures.append(await producer.send_batch(batch, topic, partition=partition))
            if offsets and group_id:
                await producer.send_offsets_to_transaction(
                    {tp: OffsetAndMetadata(off, "") for tp, off in offsets.items()}, group_id
                )
            for future in futures:
                await future

    async def _placed(self, messages: Sequence[Outbound]) -> dict[tuple[str, int], list[Outbound]]:
        """``messages`` grouped by (topic, partition), each group in publishing order."""
        placed: dict[tuple[str, int], list[Outbound]] = {}
        partitions: dict[str, list[int]] = {}
        for m in messages:
            partition = m.partition
            if partition is None:
                every = partitions.get(m.topic)
                if every is None:
                    every = partitions[m.topic] = sorted(await self.producer.partitions_for(m.topic))
                partition = self._partitioner(m.key, every, every)
            placed.setdefault((m.topic, partition), []).append(m)
        return placed


#: aiokafka's wait before retrying a transaction's first AddPartitionsToTxn that the
#: coordinator answered CONCURRENT_TRANSACTIONS (KAFKA-5477: the previous commit's
#: markers are still being written, which takes about a millisecond here).
CONCURRENT_TRANSACTIONS_RETRY = 0.002

#: The publisher's retry backoff (ms) after a retriable produce error (aiokafka's default: 100).
#: 300 back-to-back transactions of 10 messages, local broker: p99 112 ms with 100, 19-21 ms with 10;
#: with 5, p90 17.7-19.4 ms against 28.3-29.7 with 10 (two runs of 900 each, alternated;
#: 2 ms was no better than 5 and retries more often); a third run showed no difference
#: (p90 19.0 against 19.7). ``./dev bench txn`` prints all three.
RETRY_BACKOFF_MS = 5


def _prompt_retry_after_commit() -> None:
    """Retry a back-to-back transaction's start after 2 ms instead of aiokafka's fixed 20 ms.

    Every batch of the command service and of the relay starts its transaction
    right after the previous one committed, so aiokafka's ``BACKOFF_OVERRIDE``
    (a module constant, read at each retry) set the floor of every commit: 27 ms
    per transaction back to back, 7.5 ms with this (``bench/bench_txn.py``).
    """
    aiokafka_sender.BACKOFF_OVERRIDE = CONCURRENT_TRANSACTIONS_RETRY


def next_offsets(batch: Sequence[tuple[str, int, int]]) -> dict[TopicPartition, int]:
    """The offsets to commit after consuming ``(topic, partition, offset)`` triples."""
    out: dict[TopicPartition, int] = {}
    for topic, partition, offset in batch:
        tp = TopicPartition(topic, partition)
        out[tp] = max(out.get(tp, 0), offset + 1)
    return out
