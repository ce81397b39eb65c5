"""The relay process: follow the notification log, sign, publish exactly once."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, cast

import asyncpg

from certlife.contracts import topics
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.records import RecordSigner
from certlife.domain.certificate import Certificate
from certlife.services.commands.application import CertificateApplication
from certlife.services.infra import metrics, tracing
from certlife.services.infra.connections import Kafka
from certlife.services.infra.health import HEALTH
from certlife.services.infra.leader import lock_key, wait_for_lock
from certlife.services.infra.settings import Settings
from certlife.services.infra.topics import certlife_topics
from certlife.services.infra.transactions import Outbound, TransactionalPublisher
from certlife.services.relay import keys as key_transitions
from certlife.services.relay.builder import RecordBuilder
from certlife.services.relay.kafka_side import last_committed_state, one_connection
from certlife.services.relay.keystore import KeyStore
from certlife.services.relay.records import CERTIFICATE_EVENT_TOPICS, BuiltBatch, EventSource
from certlife.services.relay.recovery import reconcile
from certlife.services.relay.state import RelayState
from certlife.services.relay.store import Head, RelayStore

log = logging.getLogger("certlife.relay")

#: The relay's Kafka transactional id (after the deployment's topic prefix): one per event store.
TRANSACTIONAL_ID = "certlife-relay"


@dataclass(frozen=True)
class RelayOptions:
    """Tuning of the relay loop."""

    batch_size: int = 1000
    checkpoint_every: int = 1000
    checkpoint_interval: float = 5.0
    poll_interval: float = 1.0
    #: Batches relayed back to back (each built while the previous one publishes)
    #: before key transition requests are looked at again.
    pipeline: int = 8
    #: Build and sign in a worker process (another core) rather than a thread.
    build_in_process: bool = True


@dataclass(frozen=True)
class Fetched:
    """One batch read from the event store: notification ids, event sources and chain heads."""

    ids: list[int]
    sources: list[EventSource]
    heads: dict[str, Head]


class Relay:
    """One relay instance; at most one is active per event store (advisory lock).

    The composition root (``certlife.services.bootstrap.open_relay``) opens its
    PostgreSQL ``session`` (the one that takes the leader lock, with keepalives)
    and closes it after :meth:`run`; ``kafka`` is the root's Kafka connector,
    through which the relay opens its transactional producer once it is the
    leader, and reads the committed log back.
    """

    def __init__(
        self,
        settings: Settings,
        app: CertificateApplication,
        keystore: KeyStore,
        options: RelayOptions,
        *,
        session: asyncpg.Connection,
        kafka: Kafka,
    ) -> None:
        """Wire the relay; nothing new connects until :meth:`run`."""
        self.settings = settings
        self.session = session
        self.kafka = kafka
        self.app = app
        self.keystore = keystore
        self.options = options
        self.origin = settings.origin
        self.state = RelayState()
        self._wake = asyncio.Event()
        self._publisher: TransactionalPublisher | None = None
        self._signer: RecordSigner | None = None
        self._note_signer: NoteSigner | None = None
        self._builder = RecordBuilder(self.origin, in_process=options.build_in_process)
        #: The last published batch's store update while it runs (beside the next batch's build).
        self._applying: asyncio.Future[None] | None = None
        self._metrics = metrics.relay()
        self._metrics.watch(lambda: self.state.checkpoint_at if self.state.checkpoint_size else 0.0)

    def topic(self, name: str) -> str:
        """This deployment's name of contract topic ``name``."""
        return self.settings.topic(name)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; publish a final checkpoint on the way out.

        The session stays open (the root closes it); the producer is stopped here.
        """
        store = RelayStore(self.session, self.settings.db_schema)
        try:
            self._builder.warm()  # its start-up overlaps ours
            await self._become_leader(store, stop)
            if stop.is_set():
                return
            await self._start(store)
            await self.session.add_listener(store.channel, lambda *_: self._wake.set())
            while not stop.is_set():
                await key_transitions.process_requests(self, store)
                if not await self._relay_available(store, stop):
                    await self._idle(store, stop)
            await self._checkpoint_if_behind(store, force=True)
        finally:
            self._builder.close()
            if self._publisher is not None:
                await self._publisher.stop()

    async def _become_leader(self, store: RelayStore, stop: asyncio.Event) -> None:
        await store.create()
        HEALTH.set("standby")
        await wait_for_lock(store.conn, lock_key("relay", store.schema), stop, "relay")

    async def _start(self, store: RelayStore) -> None:
        phases: dict[str, float] = {}
        began = time.perf_counter()

        def done(name: str) -> None:
            nonlocal began
            phases[name], began = time.perf_counter() - began, time.perf_counter()

        await self.kafka.ensure_topics(
            certlife_topics(self.settings.command_partitions, self.settings.topic_prefix)
        )
        await store.install_notify(self.app.recorder.events_table_name)  # type: ignore[attr-defined]
        done("topics")
        # Registering the transactional id first fences any previous instance and
        # aborts its open transaction, so the committed log end is stable below.
        self._publisher = self.kafka.publisher(self.settings.topic_prefix + TRANSACTIONAL_ID)
        await self._publisher.start()
        done("producer")
        async with one_connection(self.kafka.consumer) as reader:
            committed = await last_committed_state(reader, self.topic(topics.RELAY_STATE))
            done("state")
            self.state = await reconcile(self, store, committed, reader)
            done("reconcile")
        if self.state.active_key_id is None:
            self.state.active_key_id = await key_transitions.initial_key(self, store)
        self._signer = RecordSigner(self.keystore.record_key(self.state.active_key_id))
        self._note_signer = NoteSigner(self.origin, self.keystore.ensure_note_key())
        done("keys")
        self._measure(self.state, 0, 0.0)
        HEALTH.set("active")
        log.info(
            "relay active: log size %d, key %s (start-up: %s)",
            self.state.tree_size,
            self.state.active_key_id,
            ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items()),
        )

    @property
    def signer(self) -> RecordSigner:
        """The record key that signs the next record."""
        assert self._signer is not None
        return self._signer

    @property
    def has_signer(self) -> bool:
        """True once a record key is loaded."""
        return self._signer is not None

    def use_signer(self, signer: RecordSigner) -> None:
        """Switch to a new record key (after a committed rotation)."""
        self._signer = signer

    async def _select(self, after_id: int) -> tuple[list[int], list[EventSource]]:
        """The notification ids and event sources of the next batch after notification ``after_id``
        (the query and the decoding, in a thread)."""

        def read() -> tuple[list[int], list[EventSource]]:
            notifications = self.app.recorder.select_notifications(
                after_id + 1, self.options.batch_size, None, CERTIFICATE_EVENT_TOPICS
            )
            sources = [
                EventSource.of(cast(Certificate.Event, self.app.mapper.to_domain_event(n)))
                for n in notifications
            ]
            return [n.id for n in notifications], sources

        return await asyncio.to_thread(read)

    async def _fetch(
        self,
        store: RelayStore,
        after: RelayState,
        pending: dict[str, Head],
        selected: tuple[list[int], list[EventSource]] | None = None,
    ) -> Fetched | None:
        """The next batch of stored events after ``after``, with their chain heads; None when none.

        ``pending`` holds the heads of a built batch not yet applied to the store;
        ``selected`` is that batch's :meth:`_select`, when it was read ahead.
        """
        ids, sources = selected if selected is not None else await self._select(after.notification_id)
        if not ids:
            return None
        numbers = {s.fields["certificate"]["number"] for s in sources}
        heads = await store.heads(numbers - pending.keys())
        heads.update((n, pending[n]) for n in numbers & pending.keys())
        return Fetched(ids, sources, heads)

    async def _relay_available(self, store: RelayStore, stop: asyncio.Event) -> bool:
        """Relay up to ``options.pipeline`` batches; False when there was nothing new.

        While batch N builds (in the builder's process), batch N+1's events are read
        from the event store; while batch N's Kafka transaction runs, batch N+1 gets
        its chain heads and builds. Nothing is in flight when this returns, so key
        transitions always see the published state.
        """
        fetched = await self._fetch(store, self.state, {})
        if fetched is None:
            return False
        building = asyncio.ensure_future(
            self._builder.build(fetched.sources, fetched.heads, self.state, self.signer)
        )
        try:
            await self._pipeline(store, stop, fetched, building)
        except BaseException:
            await _settle(self._applying)  # the pipeline's own failure is the one reported
            self._applying = None
            raise
        await self._applied()
        return True

    async def _applied(self) -> None:
        """Wait for the last batch's store update, if one runs (its failure is the caller's)."""
        applying, self._applying = self._applying, None
        if applying is not None:
            await applying

    async def _pipeline(
        self,
        store: RelayStore,
        stop: asyncio.Event,
        fetched: Fetched,
        building: asyncio.Future[tuple[BuiltBatch, RelayState]],
    ) -> None:
        """The batches of :meth:`_relay_available`. Each batch's store update runs while the next
        batch builds, and ends before that batch's chain heads are read."""
        for turn in range(self.options.pipeline):
            # The next batch's events are read while this one builds (its chain heads wait for it).
            reading = (
                None
                if turn + 1 == self.options.pipeline
                else asyncio.ensure_future(self._select(fetched.ids[-1]))
            )
            waited = time.perf_counter()
            built, new = await building
            await self._applied()
            waited = time.perf_counter() - waited
            # A checkpoint published meanwhile is part of the published state.
            new.checkpoint_size, new.checkpoint_at = self.state.checkpoint_size, self.state.checkpoint_at
            if built.refused is not None or stop.is_set():
                _discard(reading)
                reading = None
            if built.refused is not None:
                if built.records:  # publish what precedes the refused event, then stop before it
                    new.notification_id = fetched.ids[len(built.records) - 1]
                    await self.publish(store, new, built, force_checkpoint=True)
                else:  # anchor what is already published: the relay stops here
                    await self._checkpoint_if_behind(store, force=True)
                raise built.refused
            new.notification_id = fetched.ids[-1]
            fetch_started = time.perf_counter()
            following = None if reading is None else await self._fetch(store, new, built.heads, await reading)
            fetch_done = time.perf_counter()
            if following is not None:
                building = asyncio.ensure_future(
                    self._builder.build(following.sources, following.heads, new, self.signer)
                )
            try:
                started = await self._commit(new, built, force_checkpoint=False)
            except BaseException:
                if following is not None:
                    building.cancel()
                raise
            self._applying = asyncio.ensure_future(self._apply(store, new, built, started))
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "batch of %d records: waited %.1f ms for the builder, fetched the next in %.1f ms, "
                    "published in %.1f ms",
                    len(built.records),
                    waited * 1000,
                    (fetch_done - fetch_started) * 1000,
                    (time.perf_counter() - fetch_done) * 1000,
                )
            if following is None:
                break
            fetched = following

    def _checkpoint_due(self, state: RelayState, force: bool) -> bool:
        behind = state.tree_size - state.checkpoint_size
        if behind <= 0:
            return False
        if force or behind >= self.options.checkpoint_every:
            return True
        return time.time() - state.checkpoint_at >= self.options.checkpoint_interval

    async def _checkpoint_if_behind(self, store: RelayStore, force: bool = False) -> None:
        if self._publisher is not None and self._checkpoint_due(self.state, force):
            await self.publish(store, self.state.copy(), BuiltBatch(), force_checkpoint=force)

    async def _idle(self, store: RelayStore, stop: asyncio.Event) -> None:
        await self._checkpoint_if_behind(store)
        self._wake.clear()
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waiters, timeout=self.options.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def publish(
        self, store: RelayStore, new: RelayState, built: BuiltBatch, force_checkpoint: bool = False
    ) -> None:
        """One Kafka transaction: records, events, checkpoint if due, relay state; then the store."""
        started = await self._commit(new, built, force_checkpoint)
        await self._apply(store, new, built, started)

    async def _commit(self, new: RelayState, built: BuiltBatch, force_checkpoint: bool) -> float:
        """The Kafka transaction of :meth:`publish`; ``new`` is then the published state. Returns
        when it started (``time.perf_counter``)."""
        assert self._publisher is not None and self._note_signer is not None
        note = None
        if self._checkpoint_due(new, force=force_checkpoint):
            cp = Checkpoint(self.origin, new.tree_size, new.frontier.root())
            note = sign_checkpoint(cp, self._note_signer)
            new.checkpoint_size, new.checkpoint_at = new.tree_size, time.time()
        first_index = new.tree_size - len(built.records)
        log_topic = self.topic(topics.LOG)
        messages = [
            Outbound(
                log_topic,
                str(first_index + offset).encode(),
                record,
                () if trace is None else ((tracing.TRACEPARENT, trace),),
                partition=0,
            )
            for offset, (record, trace) in enumerate(zip_longest(built.records, built.traces))
        ]
        messages += [
            Outbound(self.topic(topics.EVENTS), key, value, tuple(headers))
            for key, value, headers in built.events
        ]
        if note is not None:
            messages.append(
                Outbound(
                    self.topic(topics.CHECKPOINTS), str(new.tree_size).encode(), note.encode(), partition=0
                )
            )
        messages.append(Outbound(self.topic(topics.RELAY_STATE), b"relay", new.to_bytes(), partition=0))
        started, started_ns = time.perf_counter(), time.time_ns()
        await self._publisher.publish(messages)
        if tracing.recording():
            for offset, trace in enumerate(built.traces):
                tracing.record_span(
                    "certlife.relay.record", trace, started_ns, time.time_ns(),
                    {"certlife.log_index": first_index + offset},
                )  # fmt: skip
        self.state = new
        return started

    async def _apply(self, store: RelayStore, new: RelayState, built: BuiltBatch, started: float) -> None:
        """Store what :meth:`_commit` published: PostgreSQL's copy of the heads and the position,
        behind Kafka's (a crash before it is caught up from the log at start-up: ``recovery``)."""
        # Heads, position and key history move together: a crash between them would
        # otherwise leave a committed key record unabsorbed (and its request pending).
        async with store.conn.transaction():
            await store.apply(built.heads, new)
            await key_transitions.absorb(self, store, built.records)
        self._measure(new, len(built.records), time.perf_counter() - started)

    def _measure(self, state: RelayState, records: int, seconds: float) -> None:
        """Log size and checkpoint gauges; a published batch's size and duration."""
        self._metrics.log_size.set(state.tree_size)
        self._metrics.checkpoint_size.set(state.checkpoint_size)
        if records:
            self._metrics.records.inc(records)
            self._metrics.batch_size.observe(records)
            self._metrics.batch_seconds.observe(seconds)


def _discard(reading: asyncio.Future[Any] | None) -> None:
    """Drop a read-ahead that will not be used (a read only: nothing to undo)."""
    if reading is not None:
        reading.cancel()
        # mark an exception it may already hold as seen: the batch it was for is not relayed
        reading.add_done_callback(lambda f: f.cancelled() or f.exception())


async def _settle(running: asyncio.Future[Any] | None) -> None:
    """Let ``running`` finish, whatever its outcome (marked as seen)."""
    if running is not None:
        await asyncio.wait([running])
        if not running.cancelled():
            running.exception()
