"""The command service: a faststream app that turns command batches into outcomes.

Each Kafka batch becomes one event-store transaction (``process_batch``) and
one Kafka transaction carrying its outcomes, dead letters and consumer offsets.
A crash anywhere before that Kafka transaction commits means the batch is
consumed again; the application's command receipts make the re-run return the
original outcomes without writing anything new, so the result topic (read
committed) holds exactly one outcome per command.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from contracts import topics
from contracts.commands import Outcome
from services.application import CertificateApplication
from services.command_batch import Inbound, process_batch
from services.config import Settings
from services.kafka_topics import certlife_topics, ensure_topics
from services.transactions import TransactionalPublisher, next_offsets

log = logging.getLogger("certlife.commands")

GROUP_ID = "certlife-command-service"
_RETRIES = 5


def _inbound(msg: KafkaMessage) -> list[Inbound]:
    raw = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
    return [Inbound(r.topic, r.partition, r.offset, r.key, r.value) for r in raw]


def build_command_service(settings: Settings, app: CertificateApplication) -> tuple[FastStream, KafkaBroker]:
    """Wire the command consumer, the transactional publisher and the application."""
    broker = KafkaBroker(settings.kafka_bootstrap, logger=log)
    group_id = settings.topic_prefix + GROUP_ID
    publisher = TransactionalPublisher(settings.kafka_bootstrap, f"{group_id}-{settings.instance}")
    results_topic = settings.topic(topics.COMMAND_RESULTS)
    dlq_topic = settings.topic(topics.DEAD_LETTER)
    # Declared for the AsyncAPI document; messages go out through `publisher`.
    broker.publisher(results_topic, schema=Outcome, description="One outcome per command.")
    broker.publisher(dlq_topic, description="Raw copies of malformed commands with the reason.")

    @broker.subscriber(
        settings.topic(topics.COMMANDS),
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        group_id=group_id,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        ack_policy=AckPolicy.MANUAL,
        description="Lifecycle commands (contracts/schemas/command.v1.json), keyed by number.",
    )
    async def on_commands(msg: KafkaMessage) -> None:
        batch = _inbound(msg)
        for attempt in range(1, _RETRIES + 1):
            try:
                now = datetime.now(UTC)
                out = await asyncio.to_thread(
                    process_batch,
                    app,
                    batch,
                    now,
                    results_topic=results_topic,
                    dead_letter_topic=dlq_topic,
                )
                offsets = next_offsets([(m.topic, m.partition, m.offset) for m in batch])
                await publisher.publish(out, offsets, group_id)
                return
            except Exception:
                log.exception("batch of %d commands failed (attempt %d)", len(batch), attempt)
                if attempt == _RETRIES:
                    # Nothing of this batch is committed: crash and let the restart redo it.
                    logging.shutdown()
                    os._exit(3)
                await asyncio.sleep(min(2**attempt * 0.1, 5))

    stream = FastStream(broker, logger=log)

    @stream.on_startup
    async def _create_topics() -> None:
        prefix = settings.topic_prefix
        await ensure_topics(settings.kafka_bootstrap, certlife_topics(settings.command_partitions, prefix))

    @stream.after_startup
    async def _start_publisher() -> None:
        await publisher.start()

    @stream.on_shutdown
    async def _stop_publisher() -> None:
        await publisher.stop()

    return stream, broker
