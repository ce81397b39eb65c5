"""The command service: a faststream app that turns command batches into outcomes.

The consumer loop hands what it consumes to an ``Intake`` and asks for more at
once; a worker takes everything that has arrived (up to the batch size) each time
it is free, so a batch holds every command that reached the broker while the
previous one was handled (``certlife.services.commands.intake``). Each batch becomes
one event-store transaction and one Kafka transaction carrying its outcomes, dead
letters and consumer offsets, in three overlapping steps: the worker decides the
batch (``decide_batch``: no write), a second thread stores its events while the
worker decides the next batch on top of it, and once stored its Kafka transaction
runs while the next is stored. Both kinds of transaction commit in batch order, and
nothing is published before its batch is stored. When storing a batch fails, the
batch decided after it is dropped unstored, and both are decided again from the
store (``process_batch``, with its retries).
A crash anywhere before that Kafka transaction commits means the batch is
consumed again; the application's command receipts make the re-run return the
original outcomes without writing anything new, so the result topic (read
committed) holds exactly one outcome per command.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import ConsumerRebalanceListener
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from certlife.contracts import topics
from certlife.contracts.commands import Outcome
from certlife.projections.committed import READ_COMMITTED
from certlife.projections.gcpolicy import tune_collector
from certlife.services.cli.exits import EXIT_BATCH_FAILED
from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.batch import DecidedBatch, Inbound, decide_batch, process_batch
from certlife.services.commands.intake import Intake
from certlife.services.infra import metrics, tracing
from certlife.services.infra.connections import Kafka
from certlife.services.infra.settings import Settings
from certlife.services.infra.topics import certlife_topics
from certlife.services.infra.transactions import Outbound, next_offsets

log = logging.getLogger("certlife.commands")

GROUP_ID = "certlife-command-service"
_RETRIES = 5

T = TypeVar("T")


def _records(msg: KafkaMessage) -> tuple[Any, ...]:
    """The batch's aiokafka records (faststream gives one record alone, not in a tuple)."""
    return msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)


def _inbound(msg: KafkaMessage) -> list[Inbound]:
    return [
        Inbound(r.topic, r.partition, r.offset, r.key, r.value, tracing.header(r.headers), r.timestamp)
        for r in _records(msg)
    ]


def _oldest_ms(batch: list[Inbound]) -> float:
    """The earliest record timestamp (ms since the epoch) of the batch (for the debug log)."""
    return float(min(m.timestamp or 0 for m in batch))


async def _undecoded(msg: KafkaMessage) -> None:
    """The batch's decoder: none. The handler reads the raw records (``_inbound``); faststream's
    default would build a message object for every record and try ``json.loads`` on its body."""
    return None


def _failed(what: str, size: int, attempt: int) -> None:
    """Log a failed attempt; after the last one, crash: nothing uncommitted is lost."""
    log.exception("%s a batch of %d commands failed (attempt %d)", what, size, attempt)
    if attempt == _RETRIES:
        # Offsets are committed only with the outcomes: the restart consumes the
        # batch again and the command receipts make the re-run write nothing new.
        logging.shutdown()
        os._exit(EXIT_BATCH_FAILED)


async def _retried(
    what: str,
    size: int,
    attempt: Callable[[], Awaitable[T]],
    recover: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """``attempt()``'s result, retried with backoff; each failure is logged (``_failed``, which crashes
    after the last) and followed by ``recover()`` when given."""
    for number in range(1, _RETRIES + 1):
        try:
            return await attempt()
        except Exception:
            _failed(what, size, number)
            if recover is not None:
                await recover()
            await asyncio.sleep(min(2**number * 0.1, 5))
    raise AssertionError("unreachable")


def _worker_ended(task: asyncio.Task[None]) -> None:
    """Crash when the batch worker fails outside a batch's retries: consuming on with no worker
    would decide nothing. Nothing uncommitted is lost (see ``_failed``)."""
    if task.cancelled() or task.exception() is None:
        return
    log.critical("the batch worker failed", exc_info=task.exception())
    logging.shutdown()
    os._exit(EXIT_BATCH_FAILED)


class _DropRevoked(ConsumerRebalanceListener):
    """Drops the waiting commands of revoked partitions from the intake (see ``intake``)."""

    def __init__(self, intake: Intake[Inbound]) -> None:
        self.intake = intake

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Forget what waits for ``revoked``: it is consumed again from the committed offsets."""
        gone = {(tp.topic, tp.partition) for tp in revoked}
        dropped = self.intake.drop(lambda m: (m.topic, m.partition) in gone)
        if dropped:
            log.info("partitions revoked: %d waiting commands dropped, to be consumed again", dropped)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Nothing to do: consumption starts at the committed offsets."""


@dataclass
class _Stored:
    """A decided batch whose events are being stored (``commit``) while the next one is decided."""

    batch: list[Inbound]
    decided: DecidedBatch
    commit: asyncio.Future[None]


def build_command_service(
    settings: Settings, app: CertificateApplication, kafka: Kafka
) -> tuple[FastStream, KafkaBroker]:
    """Wire the command consumer, the transactional publisher and the application.

    ``kafka`` is the composition root's connector: the broker and the publisher
    are built through it here and connect when the app starts.
    """
    broker = kafka.broker(log)
    group_id = settings.topic_prefix + GROUP_ID
    # One id per deployment, not per instance: an instance taking over (see certlife.services.infra.leader)
    # fences the previous one's producer and aborts its open transaction.
    publisher = kafka.publisher(group_id)
    results_topic = settings.topic(topics.COMMAND_RESULTS)
    dlq_topic = settings.topic(topics.DEAD_LETTER)
    # Declared for the AsyncAPI document; messages go out through `publisher`.
    broker.publisher(results_topic, schema=Outcome, description="One outcome per command.")
    broker.publisher(dlq_topic, description="Raw copies of malformed commands with the reason.")

    # At most one batch's Kafka transaction is in flight while the next batch is
    # stored: the store and the publish overlap, transactions still commit in order.
    in_flight: list[asyncio.Task[None]] = []
    measured = metrics.commands()

    async def store(batch: list[Inbound]) -> list[Outbound]:
        return await _retried(
            "storing",
            len(batch),
            lambda: asyncio.to_thread(
                process_batch,
                app,
                batch,
                datetime.now(UTC),
                results_topic=results_topic,
                dead_letter_topic=dlq_topic,
            ),
        )

    async def publish(out: list[Outbound], batch: list[Inbound]) -> None:
        offsets = next_offsets([(m.topic, m.partition, m.offset) for m in batch])

        async def attempt() -> None:
            started = time.perf_counter()
            await publisher.publish(out, offsets, group_id)
            took = time.perf_counter() - started
            measured.batch_seconds.labels("publish").observe(took)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("batch of %d commands: published in %.1f ms", len(batch), took * 1000)

        await _retried("publishing", len(batch), attempt)

    # The consumer loop only hands each batch over and asks for more at once (so aiokafka
    # keeps fetching); the worker takes all that has arrived when it is free (see intake).
    intake: Intake[Inbound] = Intake(settings.batch_max_records)
    subscriber = broker.subscriber(
        settings.topic(topics.COMMANDS),
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        group_id=group_id,
        group_instance_id=settings.group_instance_id,  # static membership: back at once after a restart
        auto_offset_reset="earliest",
        isolation_level=READ_COMMITTED,
        ack_policy=AckPolicy.MANUAL,
        decoder=_undecoded,
        listener=_DropRevoked(intake),
        description="Lifecycle commands (contracts/schemas/command.v1.json), keyed by number.",
    )
    metrics.consumer_lag().watch(lambda: [subscriber.consumer])

    stopping = asyncio.Event()
    worker: list[asyncio.Task[None]] = []

    @subscriber
    async def on_commands(msg: KafkaMessage) -> None:
        await intake.put(_inbound(msg))

    # One thread stores decided batches, one at a time and in order, while the next is decided.
    committer = ThreadPoolExecutor(1, thread_name_prefix="certlife-commit")
    storing: list[_Stored] = []  # the batch being stored, at most one

    async def decide(batch: list[Inbound]) -> DecidedBatch:
        # A failure empties the cache (``decide_batch``): the next attempt reads the store, once the
        # batch being stored is stored (``settle``).
        return await _retried(
            "deciding",
            len(batch),
            lambda: asyncio.to_thread(
                decide_batch,
                app,
                batch,
                datetime.now(UTC),
                results_topic=results_topic,
                dead_letter_topic=dlq_topic,
                ahead=storing[0].decided.decided if storing else None,
            ),
            recover=settle,
        )

    async def send(out: list[Outbound], batch: list[Inbound]) -> None:
        """Publish a stored batch's messages once the previous batch's are published."""
        if in_flight:
            await in_flight.pop()
        in_flight.append(asyncio.create_task(publish(out, batch)))

    async def settle() -> bool:
        """Wait until the batch being stored is stored, and publish it; False when storing it failed:
        it was then decided and stored again on its own (everything decided after it is void)."""
        if not storing:
            return True
        stored = storing.pop()
        started = time.perf_counter()
        try:
            await stored.commit
        except Exception:
            log.warning(
                "storing a decided batch of %d commands failed; deciding and storing it again",
                len(stored.batch),
                exc_info=True,
            )
            app.forget()  # the cache holds its events, and those of any batch decided after it
            await send(await store(stored.batch), stored.batch)
            return False
        if log.isEnabledFor(logging.DEBUG):
            log.debug("batch of %d commands: waited %.1f ms for its store",
                      len(stored.batch), (time.perf_counter() - started) * 1000)  # fmt: skip
        await send(stored.decided.messages, stored.batch)
        return True

    async def handle(batch: list[Inbound]) -> None:
        started = time.perf_counter()
        taken = time.time()  # when the worker took the batch
        decided = await decide(batch)  # while the previous batch is stored
        if not await settle():
            decided = await decide(batch)  # it built on a batch that was not stored
        stored = time.perf_counter()
        measured.batch_size.observe(len(batch))
        measured.batch_seconds.labels("store").observe(stored - started)
        commit = asyncio.get_running_loop().run_in_executor(committer, app.commit, decided.decided)
        storing.append(_Stored(batch, decided, commit))
        if not len(intake):
            await settle()  # nothing to decide meanwhile: publish as soon as it is stored
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "batch of %d commands: %.1f ms after the oldest was sent, decided in %.1f ms "
                "(the previous batch stored and handed to its publish meanwhile)",
                len(batch),
                taken * 1000 - _oldest_ms(batch),
                (stored - started) * 1000,
            )

    async def work() -> None:
        """Decide, store and publish batches until ``stopping``; the batch begun is finished first."""
        try:
            while not stopping.is_set():
                taking = asyncio.ensure_future(intake.take(settings.batch_max_records))
                halting = asyncio.ensure_future(stopping.wait())
                await asyncio.wait({taking, halting}, return_when=asyncio.FIRST_COMPLETED)
                halting.cancel()
                if not taking.done():
                    taking.cancel()  # removes nothing: what waits is consumed again after a restart
                    return
                await handle(taking.result())
        finally:
            await settle()

    stream = FastStream(broker, logger=log)

    @stream.on_startup
    async def _prepare() -> None:
        prefix = settings.topic_prefix
        await kafka.ensure_topics(certlife_topics(settings.command_partitions, prefix))
        # Before the broker consumes: registering the transactional id fences a previous
        # instance's producer and aborts its open transaction first.
        await publisher.start()
        # A batch allocates tens of thousands of short-lived objects, and the aggregate cache keeps
        # thousands of long-lived ones: with the default thresholds the collector ran a young
        # collection every ~25 commands and full walks of the cache and libraries with the GIL held.
        tune_collector()
        worker.append(asyncio.create_task(work()))
        worker[0].add_done_callback(_worker_ended)

    @stream.on_shutdown
    async def _stop_publisher() -> None:
        stopping.set()
        if worker:
            await worker[0]
        if in_flight:
            await in_flight.pop()
        committer.shutdown()
        await publisher.stop()

    return stream, broker
