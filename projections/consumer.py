"""The projection process: one faststream batch subscriber feeding every projection.

One consumer group reads the log and checkpoint topics once; each batch is
parsed once and applied to every projection in one PostgreSQL transaction
(``certlife.projections.apply.apply_reads``), each projection after its own
stored position. The batch is handed over as the raw aiokafka records (no
per-message faststream objects, no body decoding) and applied as soon as
``getmany`` returns: whatever is buffered, never waiting for a batch to fill.
The next batches are parsed, and their rows mapped (``certlife.projections.ahead``),
while the previous one is written (``certlife.projections.inflight``, up to
``BATCHES_IN_FLIGHT`` applied or queued); they are applied one at a time, in order.

Offsets live in PostgreSQL, never in Kafka (``AckPolicy.MANUAL``, nothing is
acknowledged). faststream's ``ConsumerRebalanceListener`` hook does not hand
over the consumer, so the listener holds the subscriber and, on assignment,
seeks its aiokafka consumer to the lowest offset stored for each partition by
the live generations (a projection that is further on drops what it already
has). A batch that fails (or finds a gap in the log) seeks back to the stored
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
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.message import KafkaAckableMessage

from certlife.contracts import tracecontext
from certlife.projections.ahead import Ahead, prepare
from certlife.projections.apply import apply_reads, stored_offsets
from certlife.projections.audit import AUDIT
from certlife.projections.base import Projection
from certlife.projections.batch import Message, Read, consumption_order, read_messages
from certlife.projections.committed import READ_COMMITTED
from certlife.projections.config import ProjectionConfig
from certlife.projections.errors import LogGap
from certlife.projections.gcpolicy import tune_collector
from certlife.projections.inflight import InFlight
from certlife.projections.observer import BatchObserver, Unobserved, newest_size
from certlife.projections.registry import PROJECTIONS
from certlife.projections.tracking import create_tracking, ensure_projection

log = logging.getLogger("certlife.projections")

#: Sessions of the process's pool: one batch at a time, plus seeks and start-up.
POOL_MIN_SIZE, POOL_MAX_SIZE = 1, 4
#: The one consumer group (``ProjectionConfig.group_id``) reading the topics for every projection.
LIVE_GROUP = "live"
#: Batches applied or waiting to be (``certlife.projections.inflight``): one being written, one
#: read and queued behind it, while the next is read.
BATCHES_IN_FLIGHT = 2
#: Messages parsed between two yields to the event loop while a batch is in flight.
READ_SLICE = 25
#: Longest wait of a fetch for new records (aiokafka's default is 500 ms). A fetch of the
#: checkpoint topic alone (the log's records still buffered) waits this long for a note,
#: and no fetch of the log can go to the broker meanwhile: the log stalled up to 500 ms
#: each time its buffer ran dry (every ~1,000 records while catching up).
FETCH_MAX_WAIT_MS = 100
#: Bytes a fetch may bring of one partition (aiokafka's default is 1 MiB, about 1,000
#: records): a catching-up consumer refills its buffer ~16 times less often.
PARTITION_FETCH_BYTES = 16 << 20


class Runtime:
    """The process's PostgreSQL pool (opened by the composition root) and batch counter (fault injection)."""

    def __init__(self, config: ProjectionConfig, pool: asyncpg.Pool) -> None:
        """Nothing is created until :meth:`start`."""
        self.config = config
        self.pool = pool
        self.batches = 0

    async def start(self) -> None:
        """Create tracking tables and first generations if missing; tune the collector (``gcpolicy``)."""
        async with self.pool.acquire() as conn:
            await create_tracking(conn, self.config.schema_sql)
            for projection in PROJECTIONS.values():
                await ensure_projection(conn, self.config.schema_sql, projection)
        tune_collector()
        log.info("projections active: %s", ", ".join(PROJECTIONS))

    async def before_commit(self) -> None:
        """Crash (no commit) inside the configured batch, to prove atomicity in tests."""
        self.batches += 1
        if self.config.crash_in_batch and self.batches == self.config.crash_in_batch:
            log.warning("fault injection: exiting inside batch %d before COMMIT", self.batches)
            logging.shutdown()
            os._exit(70)


class SeekToStored(ConsumerRebalanceListener):
    """On assignment, resume each partition at the lowest offset stored in PostgreSQL."""

    def __init__(self, runtime: Runtime, projections: Sequence[Projection], inflight: InFlight) -> None:
        """``subscriber`` is set once faststream has created it."""
        self.runtime = runtime
        self.projections = projections
        self.inflight = inflight
        self.subscriber: Any = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let the batch in flight commit (or fail) before the partitions move."""
        await self.inflight.settle()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Seek to the stored offsets (0 where nothing is stored yet)."""
        await seek_to_stored(self.runtime, self.projections, self.subscriber.consumer, assigned)


async def seek_to_stored(
    runtime: Runtime, projections: Sequence[Projection], consumer: Any, partitions: set[TopicPartition]
) -> None:
    """Seek ``consumer`` on ``partitions`` to the lowest next offset the live generations store."""
    async with runtime.pool.acquire() as conn:
        stored = [await stored_offsets(conn, runtime.config, p) for p in projections]
    names = ", ".join(p.name for p in projections)
    for tp in partitions:
        offset = min(offsets.get((tp.topic, tp.partition), 0) for offsets in stored)
        consumer.seek(tp, offset)
        log.info("%s: %s[%d] resumes at offset %d", names, tp.topic, tp.partition, offset)


async def _rewind(
    runtime: Runtime, projections: Sequence[Projection], consumer: Any, messages: list[Message]
) -> None:
    """After a failed batch: back to the stored offsets, or to the batch's start."""
    if consumer is None:
        return
    try:
        await seek_to_stored(runtime, projections, consumer, set(consumer.assignment()))
    except Exception:
        log.exception("cannot read stored offsets; re-reading the failed batch")
        for msg in messages:
            tp = TopicPartition(msg.topic, msg.partition)
            if tp in consumer.assignment():
                consumer.seek(
                    tp,
                    min(m.offset for m in messages if (m.topic, m.partition) == (msg.topic, msg.partition)),
                )


class _NoCommit:
    """The consumer a batch message acknowledges to: offsets live in PostgreSQL, nothing is committed."""

    async def commit(self) -> None:
        """Never called (``AckPolicy.MANUAL``); commits nothing."""

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Never called; seeks are done on the subscriber's consumer (:func:`seek_to_stored`)."""


_NO_COMMIT = _NoCommit()


async def parse_records(records: tuple[ConsumerRecord, ...]) -> KafkaAckableMessage:
    """faststream parser: the batch as its raw aiokafka records (no per-message headers or body)."""
    first, last = records[0], records[-1]
    return KafkaAckableMessage(
        body=b"",
        raw_message=records,
        message_id=f"{first.offset}-{last.offset}-{first.timestamp}",
        consumer=_NO_COMMIT,
    )


async def decode_nothing(message: Any) -> None:
    """faststream decoder: nothing to decode (the handler reads the raw records)."""


def _messages(msg: KafkaMessage) -> list[Message]:
    raw = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
    return [
        Message(r.topic, r.partition, r.offset, r.value, tracecontext.header(r.headers))
        for r in raw
        if r.value is not None
    ]


def log_traces(messages: Sequence[Message]) -> list[str]:
    """The trace ids the batch's messages carry (read with the OpenTelemetry API), logged at DEBUG.

    The read-model write continues the traces of the commands behind its
    records (:func:`record_spans` records them when an exporter is configured).
    Only read when DEBUG is on: the hot path pays nothing.
    """
    if not log.isEnabledFor(logging.DEBUG):
        return []
    ids = tracecontext.trace_ids(m.traceparent for m in messages)
    log.debug("read models written for %d messages of traces %s", len(messages), " ".join(ids) or "-")
    return ids


def record_spans(messages: Sequence[Message], started_ns: int) -> None:
    """One ``certlife.projections.write`` span per message that carries a trace, when spans are exported.

    It covers the batch's read-model transaction, which wrote that message's
    record into every read model.
    """
    if not tracecontext.recording():
        return
    ended = time.time_ns()
    for m in messages:
        if m.traceparent is not None:
            attributes: dict[str, str | int] = {
                "messaging.destination.name": m.topic,
                "messaging.kafka.offset": m.offset,
            }
            tracecontext.record_span(
                "certlife.projections.write", m.traceparent, started_ns, ended, attributes
            )


async def read_batch(config: ProjectionConfig, messages: list[Message]) -> list[Read]:
    """``read_messages`` in slices of ``READ_SLICE``, yielding between them (the batch in flight moves on)."""
    ordered = sorted(messages, key=consumption_order)
    reads: list[Read] = []
    for start in range(0, len(ordered), READ_SLICE):
        reads += read_messages(
            ordered[start : start + READ_SLICE], config.log_topic, config.checkpoints_topic
        )
        await asyncio.sleep(0)
    return reads


def _subscribe(
    broker: KafkaBroker, runtime: Runtime, projections: Sequence[Projection], observer: BatchObserver
) -> InFlight:
    config = runtime.config
    inflight = InFlight(BATCHES_IN_FLIGHT)
    listener = SeekToStored(runtime, projections, inflight)
    subscriber = broker.subscriber(
        config.log_topic,
        config.checkpoints_topic,
        batch=True,
        max_records=config.batch_max_records,
        batch_timeout_ms=config.batch_timeout_ms,
        group_id=config.group_id(LIVE_GROUP),
        group_instance_id=config.group_instance_id,
        auto_offset_reset="earliest",
        isolation_level=READ_COMMITTED,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        max_partition_fetch_bytes=PARTITION_FETCH_BYTES,
        ack_policy=AckPolicy.MANUAL,
        listener=listener,
        parser=parse_records,
        decoder=decode_nothing,
        description=f"Read models {', '.join(p.name for p in projections)}: log records and checkpoints.",
    )
    listener.subscriber = subscriber

    rewinds = 0  # a batch read before the latest rewind is read again after it

    async def rewind(messages: list[Message]) -> None:
        nonlocal rewinds
        await asyncio.sleep(1.0)
        await _rewind(runtime, projections, subscriber.consumer, messages)
        rewinds += 1

    async def apply(messages: list[Message], reads: list[Read], ahead: Ahead, read_after: int) -> None:
        if read_after != rewinds:
            return
        started, started_ns = time.perf_counter(), time.time_ns()
        try:
            async with runtime.pool.acquire() as conn:
                results = await apply_reads(conn, config, projections, reads, runtime.before_commit, ahead)
        except LogGap as gap:  # expected after a rewind or a failover: handled by seeking back, no traceback
            log.warning("batch starts past the stored position (%s); seeking back to the stored offsets", gap)
            await rewind(messages)
            return
        except Exception:
            log.exception("batch failed; seeking back to the stored offsets")
            await rewind(messages)
            return
        observer.applied(
            len(messages),
            time.perf_counter() - started,
            {
                name: (r.position.log_index + 1, r.position.checkpoint_size or 0, len(r.parked))
                for name, r in results.items()
            },
        )
        log_traces(messages)
        record_spans(messages, started_ns)
        for name, result in results.items():
            for parked in result.parked:
                log.warning("%s: %s", name, parked.describe(), extra=AUDIT)
            log.debug("%s: applied up to index %d", name, result.position.log_index)

    @subscriber
    async def on_batch(msg: KafkaMessage) -> None:
        messages, read_after = _messages(msg), rewinds
        try:
            reads = await read_batch(config, messages)
            ahead = await prepare(projections, reads, config.issuer)
        except Exception:
            log.exception("batch not readable; seeking back to the stored offsets")
            await inflight.settle()
            await rewind(messages)
            return
        observer.read(newest_size(reads))
        await inflight.start(apply(messages, reads, ahead, read_after))

    return inflight


def build_projection_app(
    config: ProjectionConfig, broker: KafkaBroker, pool: asyncpg.Pool, observer: BatchObserver | None = None
) -> FastStream:
    """The faststream app running every projection of ``PROJECTIONS`` on ``broker`` and ``pool``.

    Both come from the composition root; the pool stays open when the app stops
    (whoever opened it closes it). ``observer`` is told what each batch did.
    """
    runtime = Runtime(config, pool)
    inflight = _subscribe(broker, runtime, list(PROJECTIONS.values()), observer or Unobserved())
    app = FastStream(broker, logger=log)
    app.on_startup(runtime.start)
    app.after_shutdown(inflight.settle)
    return app
