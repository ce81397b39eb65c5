"""``certctl serve publisher``: the log's static tiles and its witnesses' cosignatures.

The publisher reads the log and checkpoints topics (read_committed, partition
0 of each, manual assignment: no consumer group; it runs as the relay's
principal), writes the tiles directory incrementally (:class:`TileFeed`) and,
for each checkpoint it publishes there, asks the configured witnesses for
cosignatures (:class:`Cosigner`). A cosigned note goes back on the checkpoints
topic (same checkpoint, more signature lines; a plain idempotent producer, not
the relay's transactional id) and replaces the tiles' ``checkpoint``. Witnesses
run beside the tiles and never hold them up.

The composition root (``certlife.services.bootstrap.open_publisher``) builds
the tile writer, reads the witness file and opens the HTTP client; Kafka
clients are opened here through the root's connector. With a
:class:`~certlife.services.publisher.statuslists.ListProducer` (the root makes
one when the key passphrase is set) it also follows the records it writes and,
after each checkpoint it publishes, produces the status lists and queues their
commitments for the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from certlife.contracts.notes import signature_count
from certlife.services.infra import metrics
from certlife.services.infra.connections import Kafka
from certlife.services.infra.health import HEALTH
from certlife.services.publisher.cosigner import Cosigner, CosignerOptions, Witness
from certlife.services.publisher.feed import GapError, TileFeed
from certlife.services.publisher.statuslists import ListProducer, tile_entries

if TYPE_CHECKING:
    from certlife.services.tiles.writer import TileWriter

log = logging.getLogger("certlife.publisher")


@dataclass(frozen=True)
class PublisherOptions:
    """Tuning of the publisher loop."""

    #: Longest wait (ms) for new messages before looking at ``stop`` again.
    poll_ms: int = 200
    #: Messages taken per poll.
    max_records: int = 2000


class Publisher:
    """One publisher: log topics -> tiles directory -> witnesses -> checkpoints topic."""

    def __init__(
        self,
        *,
        kafka: Kafka,
        log_topic: str,
        checkpoints_topic: str,
        directory: Path,
        writer: TileWriter,
        witnesses: Sequence[Witness] = (),
        http: httpx.AsyncClient | None = None,
        options: PublisherOptions | None = None,
        cosigner_options: CosignerOptions | None = None,
        status_lists: ListProducer | None = None,
    ) -> None:
        """Wire the publisher; nothing connects until :meth:`run`."""
        self.kafka, self.directory, self.writer = kafka, directory, writer
        self.log_tp, self.checkpoints_tp = TopicPartition(log_topic, 0), TopicPartition(checkpoints_topic, 0)
        self.options = options or PublisherOptions()
        self.feed = TileFeed(writer, directory)
        self.status_lists = status_lists
        self._lists_due = False  # a checkpoint was published since the lists were last looked at
        self.cosigner: Cosigner | None = None
        if witnesses:
            if http is None:
                raise ValueError("asking witnesses needs an HTTP client")
            self.cosigner = Cosigner(
                witnesses,
                http,
                lambda old, new: writer.hashes(new).consistency_proof(old),
                self._publish_cosigned,
                cosigner_options,
            )
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._may_rewind = True  # until the first record after the saved position fits
        self._metrics = metrics.publisher()
        self._metrics.tiles_size.set_function(lambda: self.writer.size)
        self._metrics.tiles_checkpoint.set_function(lambda: self.feed.tiles_size)
        metrics.consumer_lag().watch(lambda: [self._consumer])

    def _consumer_seek(self, tp: TopicPartition, offset: int) -> None:
        assert self._consumer is not None
        self._consumer.seek(tp, offset)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the log topics until ``stop`` is set."""
        if self.status_lists is not None:  # catch up with what the tiles already hold
            await asyncio.to_thread(self.status_lists.follow, tile_entries(self.directory, self.writer.size))
            self._lists_due = self.feed.tiles_size > 0
        consumer = self._consumer = self.kafka.consumer(auto_offset_reset="earliest")
        await consumer.start()
        cosigning: asyncio.Task[None] | None = None
        try:
            if self.cosigner is not None:
                self._producer = self.kafka.producer(enable_idempotence=True, acks="all")
                await self._producer.start()
                if self.feed.tiles_note is not None:
                    self.cosigner.offer(self.feed.tiles_note)
                cosigning = asyncio.create_task(self.cosigner.run(stop))
            consumer.assign([self.log_tp, self.checkpoints_tp])
            consumer.seek(self.log_tp, self.feed.position.log)
            consumer.seek(self.checkpoints_tp, self.feed.position.checkpoints)
            HEALTH.set("ready")
            log.info(
                "publisher active: tiles in %s at size %d, %d witnesses",
                self.directory,
                self.writer.size,
                0 if self.cosigner is None else len(self.cosigner.status),
            )
            while not stop.is_set():
                batch = await consumer.getmany(
                    timeout_ms=self.options.poll_ms, max_records=self.options.max_records
                )
                self._take(batch)
                if self._lists_due and self.status_lists is not None:
                    self._lists_due = False
                    await self.status_lists.after_checkpoint(self.feed.tiles_size)
                if cosigning is not None and cosigning.done():
                    cosigning.result()  # a publishing failure ends the process
        finally:
            if cosigning is not None:
                cosigning.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await cosigning
            await consumer.stop()
            if self._producer is not None:
                await self._producer.stop()

    def _take(self, batch: dict[TopicPartition, list[Any]]) -> None:
        for message in batch.get(self.checkpoints_tp, []):
            self.feed.add_checkpoint(message.offset, message.value)
        for message in batch.get(self.log_tp, []):
            try:
                self.feed.add_record(message.offset, message.key, message.value)
            except GapError:
                if not self._may_rewind:
                    raise
                # The saved position is past what the tiles hold durably: read the log again.
                log.warning(
                    "publisher: position ahead of the tiles (%d entries); re-reading the log",
                    self.writer.size,
                )
                self.feed.rewind()
                self._consumer_seek(self.log_tp, 0)
                self._may_rewind = False
                break
            self._may_rewind = False
        published = self.feed.flush()
        appended, self.feed.appended = self.feed.appended, []
        if self.status_lists is not None:
            self.status_lists.follow(appended)
            self._lists_due = self._lists_due or bool(published)
        if published:
            log.info("tiles: checkpoint %d published (%d entries)", self.feed.tiles_size, self.writer.size)
        if self.cosigner is not None:
            for note in published:  # the newest supersedes the others
                self.cosigner.offer(note)
        seen, self.feed.seen = self.feed.seen, []
        if self.cosigner is not None:
            for note in seen:  # a cosigned note published before a restart
                self.cosigner.offer(note)
                merged = self.cosigner.note(self.feed.tiles_size)
                if merged is not None:
                    self.feed.republish(merged)

    async def _publish_cosigned(self, size: int, note: str) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(
            self.checkpoints_tp.topic, note.encode("utf-8"), key=str(size).encode(), partition=0
        )
        if self.feed.republish(note):
            log.info(
                "checkpoint %d cosigned (%d signature lines) on the topic and in the tiles",
                size,
                signature_count(note),
            )
        else:
            log.info("checkpoint %d cosigned (%d signature lines) on the topic", size, signature_count(note))
