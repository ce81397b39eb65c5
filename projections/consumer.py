"""The projection process: one faststream batch subscriber per projection.

Offsets live in PostgreSQL, never in Kafka (``AckPolicy.MANUAL``, nothing is
acknowledged). faststream's ``ConsumerRebalanceListener`` hook does not hand
over the consumer, so the listener holds the subscriber and, on assignment,
seeks its aiokafka consumer to the offsets stored with the live generation.
A batch that fails (or finds a gap in the log) seeks back to the stored
offsets, so nothing is skipped. A record that cannot be applied does not fail
its batch: it is parked (``certlife.projections.parking``) and logged once, when the
batch that parked it commits.

The composition root (``certlife.services.bootstrap.open_projections``) opens
the process's PostgreSQL pool and builds its broker, hands both to
:func:`build_projection_app`, and closes the pool when the app has stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import asyncpg
from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from certlife.projections.apply import apply_batch, stored_offsets
from certlife.projections.base import Projection
from certlife.projections.batch import Message
from certlife.projections.committed import READ_COMMITTED
from certlife.projections.config import ProjectionConfig
from certlife.projections.registry import PROJECTIONS
from certlife.projections.tracking import create_tracking, ensure_projection

log = logging.getLogger("certlife.projections")

#: Sessions of the process's pool: one batch per projection at a time, plus seeks and start-up.
POOL_MIN_SIZE, POOL_MAX_SIZE = 1, 4


class Runtime:
    """The process's PostgreSQL pool (opened by the composition root) and batch counter (fault injection)."""

    def __init__(self, config: ProjectionConfig, pool: asyncpg.Pool) -> None:
        """Nothing is created until :meth:`start`."""
        self.config = config
        self.pool = pool
        self.batches = 0

    async def start(self) -> None:
        """Create tracking tables and first generations if missing."""
        async with self.pool.acquire() as conn:
            await create_tracking(conn, self.config.schema_sql)
            for projection in PROJECTIONS.values():
                await ensure_projection(conn, self.config.schema_sql, projection)
        log.info("projections active: %s", ", ".join(PROJECTIONS))

    async def before_commit(self) -> None:
        """Crash (no commit) inside the configured batch, to prove atomicity in tests."""
        self.batches += 1
        if self.config.crash_in_batch and self.batches == self.config.crash_in_batch:
            log.warning("fault injection: exiting inside batch %d before COMMIT", self.batches)
            logging.shutdown()
            os._exit(70)


class SeekToStored(ConsumerRebalanceListener):
    """On assignment, resume each partition at the offset stored in PostgreSQL."""

    def __init__(self, runtime: Runtime, projection: Projection) -> None:
        """``subscriber`` is set once faststream has created it."""
        self.runtime = runtime
        self.projection = projection
        self.subscriber: Any = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to flush: every batch commits before the next poll."""

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Seek to the stored offsets (0 where nothing is stored yet)."""
        await seek_to_stored(self.runtime, self.projection, self.subscriber.consumer, assigned)


async def seek_to_stored(
    runtime: Runtime, projection: Projection, consumer: Any, partitions: set[TopicPartition]
) -> None:
    """Seek ``consumer`` on ``partitions`` to the live generation's stored offsets."""
    async with runtime.pool.acquire() as conn:
        offsets = await stored_offsets(conn, runtime.config, projection)
    for tp in partitions:
        offset = offsets.get((tp.topic, tp.partition), 0)
        consumer.seek(tp, offset)
        log.info("%s: %s[%d] resumes at offset %d", projection.name, tp.topic, tp.partition, offset)


async def _rewind(runtime: Runtime, projection: Projection, consumer: Any, messages: list[Message]) -> None:
    """After a failed batch: back to the stored offsets, or to the batch's start."""
    if consumer is None:
        return
    try:
        await seek_to_stored(runtime, projection, consumer, set(consumer.assignment()))
    except Exception:
        log.exception("%s: cannot read stored offsets; re-reading the failed batch", projection.name)
        for msg in messages:
            tp = TopicPartition(msg.topic, msg.partition)
            if tp in consumer.assignment():
                consumer.seek(
                    tp,
                    min(m.offset for m in messages if (m.topic, m.partition) == (msg.topic, msg.partition)),
                )


def _messages(msg: KafkaMessage) -> list[Message]:
    raw = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
    return [Message(r.topic, r.partition, r.offset, r.value) for r in raw if r.value is not None]


def _subscribe(broker: KafkaBroker, runtime: Runtime, projection: Projection) -> None:
    config = runtime.config
    listener = SeekToStored(runtime, projection)
    subscriber = broker.subscriber(
        config.log_topic,
        config.checkpoints_topic,
        batch=True,
        max_records=config.batch_max_records,
        batch_timeout_ms=config.batch_timeout_ms,
        group_id=config.group_id(projection.name),
        auto_offset_reset="earliest",
        isolation_level=READ_COMMITTED,
        ack_policy=AckPolicy.MANUAL,
        listener=listener,
        description=f"Read model {projection.name}: log records and checkpoints.",
    )
    listener.subscriber = subscriber

    @subscriber
    async def on_batch(msg: KafkaMessage) -> None:
        messages = _messages(msg)
        try:
            async with runtime.pool.acquire() as conn:
                result = await apply_batch(conn, config, projection, messages, runtime.before_commit)
        except Exception:
            log.exception("%s: batch failed; seeking back to the stored offsets", projection.name)
            await asyncio.sleep(1.0)
            await _rewind(runtime, projection, subscriber.consumer, messages)
            return
        for parked in result.parked:
            log.warning("%s: %s", projection.name, parked.describe())
        log.debug("%s: applied up to index %d", projection.name, result.position.log_index)


def build_projection_app(config: ProjectionConfig, broker: KafkaBroker, pool: asyncpg.Pool) -> FastStream:
    """The faststream app running every projection of ``PROJECTIONS`` on ``broker`` and ``pool``.

    Both come from the composition root; the pool stays open when the app stops
    (whoever opened it closes it).
    """
    runtime = Runtime(config, pool)
    for projection in PROJECTIONS.values():
        _subscribe(broker, runtime, projection)
    app = FastStream(broker, logger=log)
    app.on_startup(runtime.start)
    return app
