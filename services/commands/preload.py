"""Load many aggregates with one query (the command service's hot path).

Handling a batch of commands needs each command's receipt (usually absent), its
certificate and the expiry index aggregates it touches. Loading them one
``repository.get`` at a time costs a round trip each; on PostgreSQL
``newer_events`` reads all their events at once instead -- for the
certificates and index aggregates kept by ``AggregateCache``, only the events
newer than the cached version. Other recorders (in-memory) fall back to
per-aggregate loading.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent


def newer_events(app: Application[UUID], after: Mapping[UUID, int]) -> dict[UUID, list[Any]] | None:
    """Each aggregate's events newer than its version in ``after`` (0: all), oldest first, in one
    query; None when the recorder is not PostgreSQL's (then aggregates are loaded one by one)."""
    recorder: Any = app.recorder
    datastore = getattr(recorder, "datastore", None)
    if datastore is None or not hasattr(recorder, "events_table_name"):
        return None
    from psycopg.sql import SQL, Identifier

    # The primary key is probed per aggregate (LATERAL ... OFFSET 0), so the plan never scans the
    # whole events table, whatever its statistics say. As a join on the ids (``= ANY`` or ``unnest``)
    # the planner chose a full scan while the statistics were those of a new, nearly empty table:
    # 17-19 ms per batch at 30,000 events, growing with the table. Measured on a table of 65,000
    # events with such statistics, server time + client: 4,000 aggregates probed 47 ms, joined with
    # ``= ANY`` 82 ms (planning alone 8 ms); 1,000: 13 vs 32 ms; 300: 4.4 vs 8.8 ms.
    statement = SQL(
        "SELECT w.id AS originator_id, e.originator_version, e.topic, e.state "
        "FROM unnest(%s::{id_type}[], %s::bigint[]) AS w(id, after) "
        "CROSS JOIN LATERAL (SELECT v.originator_version, v.topic, v.state FROM {schema}.{table} AS v "
        "WHERE v.originator_id = w.id AND v.originator_version > w.after OFFSET 0) AS e "
        "ORDER BY w.id, e.originator_version"
    ).format(
        id_type=SQL(datastore.originator_id_type),
        schema=Identifier(datastore.schema),
        table=Identifier(recorder.events_table_name),
    )
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, [list(after), list(after.values())], prepare=True)
        rows = curs.fetchall()
    events: dict[UUID, list[Any]] = defaultdict(list)
    for row in rows:
        stored = StoredEvent(
            originator_id=row["originator_id"],
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=bytes(row["state"]),
        )
        events[row["originator_id"]].append(app.mapper.to_domain_event(stored))
    return events


def replay(aggregate: Aggregate | None, events: Iterable[Any]) -> Aggregate | None:
    """``aggregate`` (None: not yet created) with ``events`` applied."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class AggregateCache:
    """Keeps certificates and expiry index aggregates between batches; a batch takes them out.

    A certificate's commands usually arrive over several batches, and
    ``ExpiryBucket``/``ExpirySchedule`` are read by every issue and renewal and
    can hold many events: replaying them for each batch is repeated (for the
    index, quadratic) work. A batch *takes* the aggregates it needs out of the
    cache and brings them up to date with only the events the store has beyond
    their version (another writer's included); the aggregates of a saved batch
    are kept again, as saved. So a cached object is never one that a batch is
    changing: a failed batch's objects are simply not kept (and the cache is
    cleared), and a concurrent batch loads its own copy from the store. The
    command service's single worker also keeps a batch as *decided*, before it is
    stored, for the batch it decides next (``CertificateApplication.decide_batch``):
    the cache is then cleared when that batch fails to be decided or stored. At most
    ``size`` aggregates are kept, the least recently used go first.
    """

    def __init__(self, size: int = 20_000) -> None:
        """Start empty; keep at most ``size`` aggregates."""
        self.size = size
        self._cached: OrderedDict[UUID, Aggregate] = OrderedDict()

    def take(self, aggregate_id: UUID) -> Aggregate | None:
        """Remove and return the cached aggregate (as it was when kept), or None."""
        return self._cached.pop(aggregate_id, None)

    def get(self, aggregate_id: UUID, app: Application[UUID]) -> Aggregate | None:
        """Take the aggregate, up to date with the store, or None if it does not exist."""
        cached = self.take(aggregate_id)
        if cached is not None:
            return replay(cached, app.events.get(aggregate_id, gt=cached.version))
        try:
            found: Aggregate = app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found

    def keep(self, aggregates: Iterable[Aggregate]) -> None:
        """Keep the aggregates of a saved batch (those of the cached kinds), as saved."""
        for aggregate in aggregates:
            if isinstance(aggregate, CACHED_AGGREGATES):
                self._cached[aggregate.id] = aggregate
                self._cached.move_to_end(aggregate.id)
        while len(self._cached) > self.size:
            self._cached.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (after a failed batch)."""
        self._cached.clear()


def _cached_kinds() -> tuple[type[Aggregate], ...]:
    from certlife.domain.certificate import Certificate
    from certlife.domain.expiry import ExpiryBucket, ExpirySchedule

    return (Certificate, ExpiryBucket, ExpirySchedule)


#: Aggregate classes kept by :class:`AggregateCache` (receipts are read once: not kept).
CACHED_AGGREGATES = _cached_kinds()
