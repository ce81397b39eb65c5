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
:class:`PartnerMirror`, and closes both after the run. With ``--tiles URL``
it hands a tiles fetcher instead of the consumer: the log and its checkpoint
come from C2SP tlog-tiles, and a run resumes from the verifier state kept at
the last applied checkpoint instead of re-reading the log
(``certlife.services.partner.mirror_tiles``, ``certlife.services.partner.mirror_resume``;
both sources: ``certlife.services.partner.mirror_sources``).

How it runs (the guarantees above do not depend on it): a reader task
(``certlife.services.partner.mirror_reader``) reads messages in chunks; each
chunk's per-record work (the verifier's parse, canonical check and signature,
plus the row to store or the content parking:
``certlife.services.partner.mirror_work``) runs on all cores while more is read
(the verifier's worker pool, ``certlife.services.partner.parallel``, as
``certverify log`` uses it; in this process while the backlog is short). The sequential checks then run in log order in this process, never
past the newest verified checkpoint (``certlife.services.partner.mirror_chunks``),
and each checkpoint's records are handed to a writer task
(``certlife.services.partner.ordered_writer``) that applies them in one
transaction with the new position, in one set-based statement, while the next
records are verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
from aiokafka import AIOKafkaConsumer

from certlife.contracts.trust import TrustFile
from certlife.contracts.verification import Check, Failure, LogVerifier, VerificationError, VerifiedCheckpoint
from certlife.projections.mirror_rows import RowBatch
from certlife.projections.mirror_store import MirrorStore
from certlife.projections.parked import ParkedSummary
from certlife.services.partner.inputs import SERIAL_BELOW_RECORDS
from certlife.services.partner.mirror_chunks import Anchored, ReadyChunk, anchor
from certlife.services.partner.mirror_reader import ChunkReader
from certlife.services.partner.mirror_sources import KafkaLog, LogSource, TilesLog
from certlife.services.partner.ordered_writer import OrderedWriter
from certlife.services.partner.parallel import WORKER_MODULES, WorkerPool, default_jobs

if TYPE_CHECKING:
    from certlife.services.partner.mirror_resume import ResumeKeeper
    from certlife.services.partner.tiles_http import TileFetcher

log = logging.getLogger("certlife.mirror")

#: Messages per unit of per-record work.
CHUNK = 1000
#: What the mirror's workers run, beside the verifier's modules.
_WORK_MODULE = "certlife.services.partner.mirror_work"


@dataclass
class MirrorResult:
    """What one mirror run did."""

    verified: int = 0
    applied: int = 0
    #: Records parked by this run (verified, not applicable).
    parked: int = 0
    pending: int = 0
    checkpoint_size: int = 0
    #: Under a witness policy: the witnesses that cosigned the newest checkpoint applied.
    cosigned_by: tuple[str, ...] | None = None
    failure: Failure | None = None
    checks: dict[str, int] = field(default_factory=dict)
    #: Every record the mirror has parked so far (count and the lowest indexes).
    parked_records: ParkedSummary = field(default_factory=ParkedSummary)


class PartnerMirror:
    """One partner's mirror of one log, in one database schema."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        consumer: AIOKafkaConsumer | None,
        trust: TrustFile,
        *,
        schema: str = "certlife_mirror",
        topic_prefix: str = "",
        poll_interval: float = 0.5,
        jobs: int = 0,
        parallel_from: int = SERIAL_BELOW_RECORDS,
        chunk: int = CHUNK,
        tiles: TileFetcher | None = None,
    ) -> None:
        """Wire the mirror to an open session ``conn`` and a started committed ``consumer`` (not subscribed).

        ``jobs`` worker processes verify records (default: all CPUs; 1: all in
        this process) once a round finds ``parallel_from`` or more unread
        messages; each unit of their work is up to ``chunk`` messages. With
        ``tiles`` (and no ``consumer``) the log is read from tlog-tiles.
        """
        self.conn = conn
        self.consumer = consumer
        self.trust = trust
        self.schema = schema
        self.prefix = topic_prefix
        self.poll_interval = poll_interval
        self.verifier = LogVerifier(trust)
        self.result = MirrorResult()
        self._pool = WorkerPool(jobs or default_jobs(), (*WORKER_MODULES, _WORK_MODULE))
        self._parallel_from = parallel_from
        self._reader = ChunkReader(self._pool, self.verifier, chunk)
        self._ready: deque[ReadyChunk] = deque()
        self._anchoring = Anchored()
        self._applied = 0
        self._tiles = tiles
        self._resume: ResumeKeeper | None = None
        if tiles is not None:
            from certlife.services.partner.mirror_resume import ResumeKeeper

            self._resume = ResumeKeeper(conn, schema, trust)

    async def run(self, stop: asyncio.Event | None = None, *, follow: bool = True) -> MirrorResult:
        """Mirror until ``stop`` (or, with ``follow=False``, until caught up)."""
        stop = stop or asyncio.Event()
        store = MirrorStore(self.conn, self.schema)
        source: LogSource
        if self._tiles is not None:
            source = TilesLog(self._tiles, follow=follow)  # following waits out an unreachable server
        else:
            assert self.consumer is not None
            source = KafkaLog(self.consumer, self.prefix)
        try:
            await self._prepare(store, source)
            await self._mirror(store, source, stop, follow)
        finally:
            self._pool.close()
            await source.close()
        self.result.pending = (
            self._reader.unchecked + sum(r.left for r in self._ready) + self._anchoring.accepted
        )
        self.result.checks = dict(self.verifier.checks)
        self.result.parked_records = await store.parked()
        return self.result

    async def _prepare(self, store: MirrorStore, source: LogSource) -> None:
        """Create the tables and read the position; for a long log, start the workers meanwhile."""
        end = await source.backlog()
        starting = None
        if end >= self._parallel_from:
            starting = asyncio.create_task(asyncio.to_thread(self._pool.start))
        try:
            await store.create(self.trust.origin)
            self._applied = await store.applied_size()
            if self._resume is not None:
                assert isinstance(source, TilesLog)
                self._reader.position = await self._resume.restore(self.verifier, self._applied)
                source.resume_at(self._reader.position)
        finally:
            if starting is not None:
                await starting

    async def _mirror(self, store: MirrorStore, source: LogSource, stop: asyncio.Event, follow: bool) -> None:
        """Run rounds; at a violation, apply what was anchored before it and store the failure."""

        async def apply(item: tuple[VerifiedCheckpoint, Anchored]) -> None:
            await self._apply(store, *item)

        writer = OrderedWriter(apply, depth=2)
        try:
            while not stop.is_set():
                progressed = await self._round(writer, source, stop)
                if not progressed and not follow:
                    break
                if not progressed:
                    await _sleep(stop, self.poll_interval)
        except VerificationError as exc:
            await writer.close()  # everything anchored before the violation is applied
            self.result.failure = exc.failure
            await store.record_failure(exc.failure.to_json())
            log.error(
                "verification failed; nothing past the last good record applied: %s", exc.failure.describe()
            )
        else:
            await writer.close()
            if self._resume is not None:
                await self._resume.finish(self.verifier, self._applied)
        finally:
            await writer.cancel()  # only does something when an error left it running

    async def _round(
        self,
        writer: OrderedWriter[tuple[VerifiedCheckpoint, Anchored]],
        source: LogSource,
        stop: asyncio.Event,
    ) -> bool:
        records, notes = source.records, source.notes
        notes_end, end = await source.ends()
        new_notes = await notes.fetch(notes_end)
        if new_notes:
            self.verifier.extend_checkpoints([(None, n.decode("utf-8", "replace")) for n in new_notes])
        progressed = bool(new_notes)
        if end - await records.position() >= self._parallel_from:
            await asyncio.to_thread(self._pool.start)  # no-op once started
        async with self._reader.reading(records, end) as chunks:
            while not stop.is_set() and (item := await chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                raws, prepared = item
                self._ready.append(ReadyChunk(raws, await prepared))
                progressed = await self._anchor(writer) or progressed
        return await self._anchor(writer) or progressed

    async def _anchor(self, writer: OrderedWriter[tuple[VerifiedCheckpoint, Anchored]]) -> bool:
        """Check ready records in order up to the newest verified checkpoint; queue what each one anchors.

        At a violation, every checkpoint verified before it is still queued
        with its records before the error goes up.
        """
        progressed = False
        verifier, roots = self.verifier, self.verifier.checks
        while self._ready and (pending := verifier.pending_checkpoints()):
            chunk = self._ready[0]
            start, before, verified_roots = chunk.at, verifier.size, roots[Check.CHECKPOINT_ROOT]
            failure = None
            try:
                chunk.check(verifier, pending[-1].size)
            except VerificationError as exc:
                failure = exc
            verified = pending[: roots[Check.CHECKPOINT_ROOT] - verified_roots]
            done, self._anchoring = anchor(
                chunk, start, before, verifier.size, verified, self._anchoring, self._applied
            )
            self.result.verified += verifier.size - before
            for cp, anchored in done:
                if cp.size > self._applied:  # on a restart, the first checkpoints were applied before
                    self._applied = cp.size
                    if self._resume is not None:
                        self._resume.capture(self.verifier, cp)
                    await writer.put((cp, anchored))
                self.result.checkpoint_size = cp.size
                self.result.cosigned_by = None if cp.cosignatures is None else tuple(cp.cosigned_by)
                progressed = True
            if failure is not None:
                raise failure
            if not chunk.left:
                self._ready.popleft()
        return progressed

    async def _apply(self, store: MirrorStore, cp: VerifiedCheckpoint, batch: Anchored) -> None:
        """Apply one checkpoint's records, park what cannot be, advance the position: one transaction."""
        rows = RowBatch(batch.rows, batch.raws)
        snapshot = None if self._resume is None else self._resume.take(cp.size)
        if snapshot is None or self._resume is None:
            parked = await store.apply(rows, cp.size, cp.root, cp.time, batch.parked)
        else:  # with the verifier's state at cp (tiles): both or neither
            async with self.conn.transaction():
                parked = await store.apply(rows, cp.size, cp.root, cp.time, batch.parked)
                await self._resume.write(snapshot)
        for p in parked:
            log.warning("%s", p.describe())
        self.result.applied += batch.count - len(parked)
        self.result.parked += len(parked)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
