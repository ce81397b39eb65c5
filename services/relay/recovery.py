"""Start-up checks: continue exactly where the committed log ends, or refuse to start."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from certlife.contracts import topics
from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.records import parse_record, record_hash
from certlife.domain.certificate import Certificate
from certlife.projections.committed import OpenConsumer
from certlife.services.relay import keys as key_transitions
from certlife.services.relay.kafka_side import has_committed_records, read_from
from certlife.services.relay.records import RelayRefused
from certlife.services.relay.state import RelayState
from certlife.services.relay.store import Head, RelayStore

if TYPE_CHECKING:
    from certlife.services.relay.relay import Relay

_CHUNK = 5000


async def reconcile(
    relay: Relay, store: RelayStore, committed: RelayState | None, reader: OpenConsumer
) -> RelayState:
    """The state to continue from, after catching the PostgreSQL cache up with Kafka (read through
    ``reader``)."""
    log_topic = relay.topic(topics.LOG)
    cached = await store.position()
    if committed is None:
        # Only committed records count: a crash inside the very first transaction leaves
        # aborted records and a marker (a non-zero end offset) but no log to continue.
        cached_records = cached is not None and cached.tree_size > 0
        if cached_records or await has_committed_records(reader, log_topic):
            raise RelayRefused(
                f"the log topic {log_topic} has no relay state but the event store or the topic says "
                "records were published: refusing to start a second log (check CERTLIFE_TOPIC_PREFIX "
                "and the database schema)"
            )
        return RelayState()
    if cached is not None and cached.tree_size > committed.tree_size:
        raise RelayRefused(
            f"the event store's relay position ({cached.tree_size} records) is ahead of the published "
            f"log ({committed.tree_size} records): the log topic was truncated or replaced; "
            "refusing to publish a fork"
        )
    frontier = cached.frontier.copy() if cached is not None else MerkleFrontier()
    await _catch_up(relay, store, frontier, committed, reader)
    if frontier.root() != committed.frontier.root():
        raise RelayRefused(
            f"the records on {log_topic} do not hash to the committed root at size {committed.tree_size}"
        )
    await store.apply({}, committed)
    await _check_continuity(relay, committed, reader)
    return committed


async def _catch_up(
    relay: Relay, store: RelayStore, frontier: MerkleFrontier, target: RelayState, reader: OpenConsumer
) -> None:
    """Apply records [frontier.size, target.size) from Kafka to the chain heads."""
    if frontier.size >= target.tree_size:
        return
    pending: list[bytes] = []
    async for _, value in read_from(reader, relay.topic(topics.LOG), frontier.size):
        index = parse_record(value).index
        if index < frontier.size or index >= target.tree_size:
            continue
        if index != frontier.size:
            raise RelayRefused(f"the log topic skips from index {frontier.size - 1} to {index}")
        frontier.append(leaf_hash(value))
        pending.append(value)
        if len(pending) >= _CHUNK:
            await _absorb_chunk(relay, store, pending)
            pending = []
    await _absorb_chunk(relay, store, pending)
    if frontier.size != target.tree_size:
        raise RelayRefused(
            f"the log topic ends at index {frontier.size - 1} but the relay committed {target.tree_size} records"
        )


async def _absorb_chunk(relay: Relay, store: RelayStore, values: list[bytes]) -> None:
    heads: dict[str, Head] = {}
    for value in values:
        rec = parse_record(value)
        if rec.kind == "certificate" and rec.number is not None:
            heads[rec.number] = Head(int(rec.data["seq"]), record_hash(value), rec.index)
    if heads:
        await store.apply_heads(heads)
    await key_transitions.absorb(relay, store, values)


async def _check_continuity(relay: Relay, committed: RelayState, reader: OpenConsumer) -> None:
    """The newest published record must be what the event store holds for it."""
    recorder = relay.app.recorder
    newest = await asyncio.to_thread(recorder.max_notification_id)
    if committed.notification_id > (newest or 0):
        raise RelayRefused(
            f"the published log was made from event-store position {committed.notification_id} but this "
            f"event store ends at {newest or 0}: wrong database or schema?"
        )
    if committed.tree_size == 0:
        return
    last = None
    async for _, value in read_from(reader, relay.topic(topics.LOG), max(0, committed.tree_size - 1)):
        rec = parse_record(value)
        if rec.kind == "certificate" and rec.index < committed.tree_size:
            last = rec
    if last is None or last.number is None:
        return
    seq = int(last.data["seq"])
    cert_id = Certificate.create_id(relay.settings.issuer, last.number)
    events = await asyncio.to_thread(lambda: list(relay.app.events.get(cert_id, gt=seq - 1, lte=seq)))
    fields = events[0].record_fields() if events and isinstance(events[0], Certificate.Event) else None
    published = {
        k: last.data.get(k) for k in ("certificate", "event", "status", "reason", "effectiveAt", "recordedAt")
    }
    if fields != published:
        raise RelayRefused(
            f"published record {last.index} (certificate {last.number}, seq {seq}) does not match the "
            "event store: the log and this event store have diverged; refusing to publish a fork"
        )
