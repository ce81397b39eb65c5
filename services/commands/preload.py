"""Load many aggregates with one query (the command service's hot path).

Handling a batch of commands needs each command's receipt (usually absent), its
certificate and the expiry index aggregates it touches. Loading them one
``repository.get`` at a time costs a round trip each; on PostgreSQL
``newer_events`` reads all their events at once instead -- for the index
aggregates kept by ``IndexCache``, only the events newer than the cached
version. Other recorders (in-memory) fall back to per-aggregate loading.
"""

from __future__ import annotations

from collections import defaultdict
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

    statement = SQL(
        "SELECT e.originator_id, e.originator_version, e.topic, e.state "
        "FROM unnest(%s::{id_type}[], %s::bigint[]) AS w(id, after) "
        "JOIN {schema}.{table} AS e ON e.originator_id = w.id AND e.originator_version > w.after "
        "ORDER BY e.originator_id, e.originator_version"
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


class IndexCache:
    """Keeps the expiry index aggregates between batches and fast-forwards them.

    ``ExpiryBucket`` and ``ExpirySchedule`` are read by every issue and renewal
    and can hold many events; replaying them for each batch is quadratic work.
    Cached objects are brought up to date with only the newer events, and the
    cache is cleared whenever a batch fails (it may hold unsaved changes).
    """

    def __init__(self) -> None:
        """Start empty."""
        self._cached: dict[UUID, Aggregate] = {}

    def get(self, aggregate_id: UUID, app: Application[UUID]) -> Aggregate | None:
        """The aggregate, up to date with the store, or None if it does not exist."""
        cached = self._cached.get(aggregate_id)
        if cached is None:
            try:
                cached = app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        else:
            cached = replay(cached, app.events.get(aggregate_id, gt=cached.version))
            assert cached is not None
        self._cached[aggregate_id] = cached
        return cached

    def version(self, aggregate_id: UUID) -> int:
        """The version of the cached aggregate (0 when none is cached)."""
        cached = self._cached.get(aggregate_id)
        return 0 if cached is None else cached.version

    def advance(self, aggregate_id: UUID, events: Iterable[Any]) -> Aggregate | None:
        """The cached aggregate with ``events`` (those after :meth:`version`) applied; None if none exists."""
        found = replay(self._cached.get(aggregate_id), events)
        if found is not None:
            self._cached[aggregate_id] = found
        return found

    def clear(self) -> None:
        """Forget everything (after a failed batch)."""
        self._cached.clear()


def _index_kinds() -> tuple[type[Aggregate], ...]:
    from certlife.domain.expiry import ExpiryBucket, ExpirySchedule

    return (ExpiryBucket, ExpirySchedule)


#: Aggregate classes kept by :class:`IndexCache`.
INDEX_AGGREGATES = _index_kinds()
