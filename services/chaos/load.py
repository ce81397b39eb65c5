"""Steady mixed lifecycle traffic, and what a live observer sees of it.

:class:`Load` publishes the demo's realistic commands (``demo/scenario.py``: issue,
suspend, reinstate, renew, amend, revoke, withdraw, conflicts, a little malformed
input, expiry sweeps) at a fixed rate, and every ``resend_every``-th send is an
exact re-send (same key, same bytes) of an earlier command. A send Kafka could
not confirm (an outage) is sent again later, exactly as an internal system would.
:class:`Observer` notes when outcomes and log records were produced and where the read
model stands, twice a second: the timeline and the recovery times come from it.
Outcomes and records are dated by their producer's create time, not by when this
reader saw them: a record committed just before a kill is not mistaken for recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from certlife.contracts import topics
from certlife.projections.committed import committed_consumer
from certlife.projections.queries import ReadModels
from certlife.services.demo.scenario import generate_commands
from certlife.services.infra.settings import Settings

log = logging.getLogger("certlife.chaos")
Message = tuple[bytes, bytes]
#: Certificates per generated chunk of traffic (about 2.7 commands each: some 90 s at 60/s).
CHUNK = 2000


def chunk(settings: Settings, seed: int, k: int) -> list[Message]:
    """The ``k``-th chunk of scenario commands; from chunk 1 on the numbers carry ``-R<k>``, so that
    no chunk issues another's certificates (the scenario numbers certificates from 1 each time).
    An exact repeat inside a chunk stays an exact repeat."""
    now = datetime.now(UTC).replace(microsecond=0)
    messages = generate_commands(
        CHUNK, seed + k, issuer=settings.issuer, now=now, duplicates=0.05, conflicts=0.05, malformed=0.01
    )
    return messages if k == 0 else [_renumbered(message, k) for message in messages]


def _renumbered(message: Message, k: int) -> Message:
    try:
        body = json.loads(message[1])
    except ValueError:
        return message  # malformed input stays as it is
    if not isinstance(body, dict) or not isinstance(body.get("number"), str) or body["number"] == "X":
        return message
    body["number"] = f"{body['number']}-R{k}"
    return body["number"].encode(), json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Load:
    """Publishes scenario chunks at ``rate`` a second with periodic exact re-sends."""

    settings: Settings
    rate: float
    resend_every: int = 20
    seed: int = 0
    sent: list[float] = field(default_factory=list)  # when each send was handed to the producer
    failures: Counter[str] = field(default_factory=Counter)  # sends Kafka did not confirm, by cause
    _retry: list[Message] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set, then flush (waiting out an outage, re-sending what failed)."""
        rng = random.Random(self.seed)
        # Not idempotent: aiokafka retries an idempotent batch forever, and after a broker
        # restart one was seen to spin on a retriable error. A lost or doubled send is what
        # an internal system's retry gives too; the checks count what the topic holds.
        producer = AIOKafkaProducer(
            **self.settings.kafka.client_options(), acks="all", linger_ms=5,
            request_timeout_ms=15000, max_request_size=2 << 20,
        )  # fmt: skip
        await producer.start()
        topic, chunks = self.settings.topic(topics.COMMANDS), 0
        history: list[Message] = []
        fresh: list[Message] = []
        pending: set[asyncio.Future[object]] = set()
        start = time.monotonic()
        try:
            while not stop.is_set():
                due = start + len(self.sent) / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if self._retry:
                    message = self._retry.pop(0)
                elif history and len(self.sent) % self.resend_every == self.resend_every - 1:
                    message = rng.choice(history)
                else:
                    if not fresh:
                        fresh = list(reversed(chunk(self.settings, self.seed, chunks)))
                        chunks += 1
                    message = fresh.pop()
                    history.append(message)
                pending.add(await self._send(producer, topic, message))
                self.sent.append(time.time())
            while pending or self._retry:
                for message in self._retry[:]:
                    pending.add(await self._send(producer, topic, message))
                    self._retry.remove(message)
                await asyncio.wait(pending)
                pending.clear()
        finally:
            await producer.stop()

    async def _send(self, producer: AIOKafkaProducer, topic: str, message: Message) -> asyncio.Future[object]:
        key, value = message
        while True:
            try:
                future = await producer.send(topic, value, key=key)
                break
            except KafkaError:  # no metadata during an outage: wait, then try again
                await asyncio.sleep(1.0)
        future.add_done_callback(self._on_done(message))
        return future

    def _on_done(self, message: Message) -> Callable[[asyncio.Future[object]], None]:
        def done(future: asyncio.Future[object]) -> None:
            if future.cancelled() or future.exception() is not None:
                cause = "cancelled" if future.cancelled() else type(future.exception()).__name__
                if not self.failures[cause]:
                    log.warning("a send failed (%s): sent again (counted from here on)", cause)
                self.failures[cause] += 1
                self._retry.append(message)

        return done


@dataclass
class Observer:
    """When outcomes and log records were produced (epoch seconds, each committed one as its
    create time) and where the read model stood (sampled twice a second)."""

    settings: Settings
    outcomes: list[float] = field(default_factory=list)
    records: list[float] = field(default_factory=list)
    positions: list[tuple[float, int]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set."""
        tasks = [
            asyncio.create_task(self._follow(topics.COMMAND_RESULTS, self.outcomes, stop)),
            asyncio.create_task(self._follow(topics.LOG, self.records, stop)),
            asyncio.create_task(self._sample(stop)),
        ]
        await asyncio.gather(*tasks)

    async def _follow(self, name: str, arrivals: list[float], stop: asyncio.Event) -> None:
        consumer = committed_consumer(
            self.settings.kafka.client_options(), self.settings.topic(name), auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            while not stop.is_set():
                began = time.monotonic()
                try:
                    batch = await consumer.getmany(timeout_ms=300)
                except KafkaError:
                    await asyncio.sleep(0.5)
                    continue
                if not batch and time.monotonic() - began < 0.1:
                    # No broker: aiokafka returns at once instead of waiting the timeout, and
                    # this loop would take a core from the broker that is starting again.
                    await asyncio.sleep(0.3)
                # The producer's create time: when the service produced it (a transaction's
                # messages are seen only once committed, and this reader may lag behind).
                arrivals.extend(m.timestamp / 1000 for msgs in batch.values() for m in msgs)
        finally:
            await consumer.stop()

    async def _sample(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(self.settings.database_url, timeout=2)
                models = ReadModels(conn, f'"{self.settings.db_schema}"')
                self.positions.append((time.time(), (await models.position("certificates")).log_index))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                conn = None  # PostgreSQL is down: try again next time
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        if conn is not None and not conn.is_closed():
            await conn.close()
