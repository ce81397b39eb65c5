"""The partner mirror: replay the public log, verify every record, apply only what is anchored.

A record is applied to the mirror's tables only after it passed every record
check (signature under a key in force at its index, index continuity, the
certificate's ``seq``/``prev`` chain, a legal lifecycle transition) AND the
Merkle root of the log up to a signed checkpoint that covers it matched that
checkpoint. Records past the newest checkpoint wait. At the first violation
the mirror stops applying, stores the failure and reports index, certificate
and check. On restart it re-verifies from the beginning and applies from where
it stopped.

A record that passed every one of those checks but cannot be applied — its
content is inadmissible (``certlife.contracts.admission.record_content_problem``) or
PostgreSQL refuses its row — does not stop the mirror: it is parked
(``certlife.projections.parking``, ``mirror_parked``), its certificate answers
``unavailable`` until a later record of it applies, and the rest is applied.
Only integrity failures stop the mirror.

The mirror opens nothing itself: ``certverify mirror``'s composition
(``certlife.services.partner.mirror_cmd.open_mirror``) opens the partner's
PostgreSQL session and a started read-committed consumer, hands them to
:class:`PartnerMirror`, and closes both after the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from certlife.contracts import topics
from certlife.contracts.records import Record, parse_record
from certlife.contracts.trust import TrustFile
from certlife.contracts.verification import Failure, LogVerifier, VerificationError, record_facts
from certlife.projections.mirror_store import MirrorStore
from certlife.projections.parked import ParkedSummary
from certlife.projections.parking import split_admissible

log = logging.getLogger("certlife.mirror")


@dataclass
class MirrorResult:
    """What one mirror run did."""

    verified: int = 0
    applied: int = 0
    #: Records parked by this run (verified, not applicable).
    parked: int = 0
    pending: int = 0
    checkpoint_size: int = 0
    failure: Failure | None = None
    checks: dict[str, int] = field(default_factory=dict)
    #: Every record the mirror has parked so far (count and the lowest indexes).
    parked_records: ParkedSummary = field(default_factory=ParkedSummary)


class _Topic:
    """Committed messages of partition 0 of one topic, read incrementally."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        self.consumer = consumer
        self.tp = TopicPartition(topic, 0)

    async def fetch(self) -> list[bytes]:
        """Whatever is committed beyond what was read (may be empty)."""
        end = (await self.consumer.end_offsets([self.tp]))[self.tp]
        out: list[bytes] = []
        while await self.consumer.position(self.tp) < end:
            batch = await self.consumer.getmany(self.tp, timeout_ms=500, max_records=5000)
            out += [m.value for m in batch.get(self.tp, []) if m.value is not None]
        return out


class PartnerMirror:
    """One partner's mirror of one log, in one database schema."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        consumer: AIOKafkaConsumer,
        trust: TrustFile,
        *,
        schema: str = "certlife_mirror",
        topic_prefix: str = "",
        poll_interval: float = 0.5,
    ) -> None:
        """Wire the mirror to an open session ``conn`` and a started committed ``consumer`` (not subscribed)."""
        self.conn = conn
        self.consumer = consumer
        self.trust = trust
        self.schema = schema
        self.prefix = topic_prefix
        self.poll_interval = poll_interval
        self.verifier = LogVerifier(trust)
        self.result = MirrorResult()
        self._waiting: deque[bytes] = deque()
        self._anchored: list[Record] = []
        self._position = 0

    async def run(self, stop: asyncio.Event | None = None, *, follow: bool = True) -> MirrorResult:
        """Mirror until ``stop`` (or, with ``follow=False``, until caught up)."""
        stop = stop or asyncio.Event()
        store = MirrorStore(self.conn, self.schema)
        await store.create(self.trust.origin)
        applied = await store.applied_size()
        records = _Topic(self.consumer, self.prefix + topics.LOG)
        notes = _Topic(self.consumer, self.prefix + topics.CHECKPOINTS)
        self.consumer.assign([records.tp, notes.tp])
        for tp in (records.tp, notes.tp):
            self.consumer.seek(tp, 0)
        try:
            while not stop.is_set():
                progressed = await self._round(store, records, notes, applied)
                applied = max(applied, self.result.checkpoint_size)
                if not progressed and not follow:
                    break
                if not progressed:
                    await _sleep(stop, self.poll_interval)
        except VerificationError as exc:
            self.result.failure = exc.failure
            await store.record_failure(exc.failure.to_json())
            log.error(
                "verification failed; nothing past the last good record applied: %s",
                exc.failure.describe(),
            )
        self.result.pending = len(self._waiting) + len(self._anchored)
        self.result.checks = dict(self.verifier.checks)
        self.result.parked_records = await store.parked()
        return self.result

    async def _round(self, store: MirrorStore, records: _Topic, notes: _Topic, applied: int) -> bool:
        new_notes = await notes.fetch()
        if new_notes:
            self.verifier.extend_checkpoints([(None, n.decode("utf-8", "replace")) for n in new_notes])
        self._waiting.extend(await records.fetch())
        progressed = bool(new_notes)
        for cp in self.verifier.pending_checkpoints():
            while self.verifier.size < cp.size and self._waiting:
                self._feed(self._waiting.popleft())
            if self.verifier.size < cp.size:
                break  # its records are not committed yet
            batch = [r for r in self._anchored if r.index >= applied]
            if cp.size > applied:  # on a restart, the first checkpoints were applied before
                applicable, inadmissible = split_admissible(batch)
                parked = await store.apply(applicable, cp.size, cp.root, cp.time, inadmissible)
                for p in parked:
                    log.warning("%s", p.describe())
                self.result.applied += len(batch) - len(parked)
                self.result.parked += len(parked)
                applied = cp.size
            self.result.checkpoint_size = cp.size
            progressed = True
            self._anchored = []
            progressed = True
        return progressed

    def _feed(self, raw: bytes) -> None:
        self.verifier.announce(raw)
        facts = record_facts(self._position, raw, self.verifier.directory, True)
        self._position += 1
        before = self.verifier.size
        self.verifier.feed(facts)
        if self.verifier.size > before:  # a new record, not an accepted repeat
            self._anchored.append(parse_record(raw))
            self.result.verified += 1


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
