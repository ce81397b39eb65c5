"""Play the scenario through Kafka as an internal system would, and wait for it to settle."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer

from certlife.contracts import topics
from certlife.projections.committed import committed_consumer
from certlife.services.commands.batch import COMMAND_ID_HEADER
from certlife.services.infra.settings import Settings
from certlife.services.relay.store import KeyRequest, RelayStore


def command_ids(messages: list[tuple[bytes, bytes]]) -> set[str]:
    """The commandIds a correct service must answer (readable ones only)."""
    ids = set()
    for _, value in messages:
        try:
            cid = json.loads(value).get("commandId")
        except (ValueError, AttributeError):
            continue
        if isinstance(cid, str) and 1 <= len(cid) <= 128:
            ids.add(cid)
    return ids


async def publish(
    settings: Settings, messages: list[tuple[bytes, bytes]], halfway: Callable[[], Awaitable[None]]
) -> None:
    """Publish every command keyed by certificate number; call ``halfway`` in the middle."""
    producer = AIOKafkaProducer(
        **settings.kafka.client_options(),
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=2 << 20,
    )
    await producer.start()
    try:
        middle = len(messages) // 2
        for i, (key, value) in enumerate(messages):
            if i == middle:
                await producer.flush()
                await halfway()
            await producer.send(settings.topic(topics.COMMANDS), value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def queue_rotation(settings: Settings, new_key_id: str) -> None:
    """Ask the relay to rotate to ``new_key_id`` (as `certctl keys rotate` does)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        store = RelayStore(conn, settings.db_schema)
        await store.create()
        await store.request_key_transition(KeyRequest(0, "rotate", new_key_id, None, None, "demo rotation"))
    finally:
        await conn.close()


@dataclass
class Accounting:
    """Where every published command message went.

    ``published = answered + answered_again + dead_without_id + unaccounted``:
    each distinct commandId has one first outcome (``outcomes`` counts those by
    status and code), a re-sent command is answered again from its receipt, and
    a message whose commandId cannot be read has only a dead letter.
    """

    published: int
    outcomes: Counter[str] = field(default_factory=Counter)
    answered_again: int = 0
    dead_letters: int = 0
    dead_without_id: int = 0

    @property
    def answered(self) -> int:
        """Distinct commandIds that got an outcome."""
        return self.outcomes["accepted"] + self.outcomes["rejected"]

    @property
    def unaccounted(self) -> int:
        """Published messages with neither an outcome nor a dead letter (0 when nothing was lost)."""
        return self.published - self.answered - self.answered_again - self.dead_without_id


async def collect_outcomes(
    settings: Settings, published: int, expected: set[str], timeout: float
) -> Accounting:
    """Read outcomes and dead letters until every published message is accounted for."""
    consumer = committed_consumer(
        settings.kafka.client_options(),
        settings.topic(topics.COMMAND_RESULTS),
        settings.topic(topics.DEAD_LETTER),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: dict[str, dict[str, object]] = {}
    books = Accounting(published)
    results_topic = settings.topic(topics.COMMAND_RESULTS)
    try:
        deadline = time.monotonic() + timeout
        while (expected - seen.keys() or books.unaccounted > 0) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, msgs in batch.items():
                for msg in msgs:
                    if tp.topic != results_topic:
                        books.dead_letters += 1
                        if not any(k == COMMAND_ID_HEADER for k, _ in msg.headers or ()):
                            books.dead_without_id += 1
                        continue
                    outcome = json.loads(msg.value or b"{}")
                    if outcome["commandId"] in seen:
                        books.answered_again += 1
                        continue
                    seen[outcome["commandId"]] = outcome
                    # Counted as they arrive: the loop ends as soon as nothing is unaccounted.
                    books.outcomes[str(outcome["status"])] += 1
                    if outcome["status"] == "rejected":
                        books.outcomes[f"rejected:{outcome['code']}"] += 1
    finally:
        await consumer.stop()
    missing = expected - seen.keys()
    if missing:
        raise RuntimeError(f"{len(missing)} commands got no outcome within {timeout:.0f}s")
    return books


async def wait_relayed(settings: Settings, timeout: float) -> int:
    """Wait until every certificate event is in the log under a checkpoint; return the log size."""
    conn = await asyncpg.connect(settings.database_url)
    s = f'"{settings.db_schema}"'
    try:
        events = await conn.fetchval(
            f"SELECT count(*) FROM {s}.certificateapplication_events "
            "WHERE topic LIKE 'certlife.domain.certificate:Certificate.%'"
        )
        store = RelayStore(conn, settings.db_schema)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = await store.position()
            keys = await conn.fetchval(
                f"SELECT count(*) FROM {s}.relay_key_requests WHERE done_at_index >= 0"
            )
            if state and state.tree_size == events + keys and state.checkpoint_size == state.tree_size:
                return state.tree_size
            await asyncio.sleep(0.3)
    finally:
        await conn.close()
    raise RuntimeError(f"the relay did not publish and checkpoint all {events} events within {timeout:.0f}s")
