"""Load many aggregates with one query (the command service's hot path).

Handling a batch of commands needs each command's receipt (usually absent) and
its certificate. Loading them one ``repository.get`` at a time costs two round
trips per command; on PostgreSQL this reads all their events at once instead.
Other recorders (in-memory) fall back to per-aggregate loading.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent


def preload(app: Application[UUID], ids: Iterable[UUID]) -> dict[UUID, Aggregate | None] | None:
    """Aggregates for ``ids`` (None where none exists), or None when unsupported here."""
    recorder: Any = app.recorder
    datastore = getattr(recorder, "datastore", None)
    if datastore is None or not hasattr(recorder, "events_table_name"):
        return None
    from psycopg.sql import SQL, Identifier

    wanted = list(set(ids))
    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(schema=Identifier(datastore.schema), table=Identifier(recorder.events_table_name))
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, [wanted], prepare=True)
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
    found: dict[UUID, Aggregate | None] = dict.fromkeys(wanted)
    for aggregate_id, domain_events in events.items():
        aggregate: Aggregate | None = None
        for event in domain_events:
            aggregate = event.mutate(aggregate)
        found[aggregate_id] = aggregate
    return found


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
            for event in app.events.get(aggregate_id, gt=cached.version):
                cached = cast(Any, event).mutate(cached)
            assert cached is not None
        self._cached[aggregate_id] = cached
        return cached

    def clear(self) -> None:
        """Forget everything (after a failed batch)."""
        self._cached.clear()


def _index_kinds() -> tuple[type[Aggregate], ...]:
    from certlife.domain.expiry import ExpiryBucket, ExpirySchedule

    return (ExpiryBucket, ExpirySchedule)


#: Aggregate classes kept by :class:`IndexCache`.
INDEX_AGGREGATES = _index_kinds()
