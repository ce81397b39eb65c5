"""Where the mirror reads the log and its checkpoints: two Kafka topics, or C2SP tlog-tiles.

Both sources offer the same two readers to :class:`~certlife.services.partner.mirror.PartnerMirror`:
``records`` (the log's records from the mirror's position on: ``position()``,
``take(limit, end)``) and ``notes`` (checkpoint notes not handed over yet:
``fetch(end)``), plus ``ends()``, the end of what is there now, read once per round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition

from certlife.contracts import topics

if TYPE_CHECKING:
    from certlife.services.partner.mirror_tiles import TilesNotes, TilesRecords
    from certlife.services.partner.tiles_http import TileFetcher


class TopicReader:
    """Committed messages of partition 0 of one topic, read incrementally."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        """Read ``topic`` through ``consumer`` (assigned by the caller)."""
        self.consumer = consumer
        self.tp = TopicPartition(topic, 0)

    async def position(self) -> int:
        """The next offset to read."""
        return await self.consumer.position(self.tp)

    async def take(self, limit: int, end: int) -> list[bytes]:
        """Up to ``limit`` more messages, or none once the position reached ``end``."""
        while await self.position() < end:
            batch = await self.consumer.getmany(self.tp, timeout_ms=500, max_records=limit)
            out = [m.value for m in batch.get(self.tp, []) if m.value is not None]
            if out:
                return out
        return []

    async def fetch(self, end: int) -> list[bytes]:
        """Every message before ``end`` not read yet (may be none)."""
        out: list[bytes] = []
        while chunk := await self.take(5000, end):
            out += chunk
        return out


class KafkaLog:
    """The log and checkpoints topics, from offset 0, through a started read-committed consumer."""

    def __init__(self, consumer: AIOKafkaConsumer, topic_prefix: str) -> None:
        """Assign both topics to ``consumer`` (not subscribed) and seek to their beginning."""
        self.consumer = consumer
        self.records = TopicReader(consumer, topic_prefix + topics.LOG)
        self.notes = TopicReader(consumer, topic_prefix + topics.CHECKPOINTS)
        consumer.assign([self.records.tp, self.notes.tp])
        for tp in (self.records.tp, self.notes.tp):
            consumer.seek(tp, 0)

    async def backlog(self) -> int:
        """How far the log goes now (to decide early whether to start the workers)."""
        return (await self._ends(self.records))[0]

    async def ends(self) -> list[int]:
        """The end of what is committed now: ``[notes end, records end]`` (one request)."""
        return await self._ends(self.notes, self.records)

    async def close(self) -> None:
        """Nothing to do: the consumer belongs to the caller."""

    async def _ends(self, *parts: TopicReader) -> list[int]:
        ends = await self.consumer.end_offsets([part.tp for part in parts])
        return [ends[part.tp] for part in parts]


class TilesLog:
    """The log and its checkpoint read from tlog-tiles (:mod:`certlife.services.partner.mirror_tiles`)."""

    def __init__(self, fetcher: TileFetcher, *, follow: bool) -> None:
        """Read through ``fetcher``; ``follow``: an unreachable server is waited out, not an error."""
        from certlife.services.partner.mirror_tiles import TilesNotes, TilesRecords

        self.records: TilesRecords = TilesRecords(fetcher)
        self.records.tolerant = follow
        self.notes: TilesNotes = TilesNotes(fetcher, self.records)

    async def backlog(self) -> int:
        """How far the log goes now, as far as known before the first round."""
        return await self.records.position()

    def resume_at(self, index: int) -> None:
        """Read records from ``index`` on (where a restored verifier stands)."""
        self.records.next = self.records.end = index

    async def ends(self) -> list[int]:
        """Read the checkpoint: ``[0, the tree size to read records to]``."""
        return [0, await self.notes.end()]

    async def close(self) -> None:
        """Stop fetching."""
        await self.records.close()


#: Either source.
LogSource = KafkaLog | TilesLog
