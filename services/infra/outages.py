"""What a service says when PostgreSQL or Kafka goes away under it: one line naming the cause.

A service that loses an endpoint it cannot carry on without (the relay's
database session holds its leader lock and its position) exits; its supervisor
(``certctl serve all``) restarts it with backoff, and a restart during the
outage fails its preflight with one line too. :func:`outage_cause` recognises
the errors that mean "an endpoint went away" (not a bug) and words them; any
other error stays a traceback, because it is one.
"""

from __future__ import annotations

import asyncpg
from aiokafka import errors as kafka_errors

#: The database went away: the connection closed or reset, the server shut down or is starting.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # 57P01 admin shutdown, 57P02 crash, 57P03 starting
    asyncpg.exceptions.InternalClientError,
)
#: Kafka went away: no broker answers, or the cluster has no leader for a partition for too long.
KAFKA_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.NotLeaderForPartitionError,
    kafka_errors.LeaderNotAvailableError,
    kafka_errors.NotEnoughReplicasError,
    kafka_errors.NotEnoughReplicasAfterAppendError,
    kafka_errors.CoordinatorNotAvailableError,
    kafka_errors.NotCoordinatorError,
)


def _psycopg_errors() -> tuple[type[BaseException], ...]:
    """psycopg's connection errors (the event store's driver), when it is installed."""
    try:
        import psycopg
    except ImportError:  # a verifier-only install
        return ()
    return (psycopg.OperationalError, psycopg.InterfaceError)


def outage_cause(exc: BaseException) -> str | None:
    """One line naming the endpoint ``exc`` says went away, or None when it is no outage.

    Looks through ``__cause__``/``__context__`` too: a library may wrap the
    connection error in its own.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        detail = str(current).strip().splitlines()[0] if str(current).strip() else type(current).__name__
        if isinstance(current, DATABASE_ERRORS + _psycopg_errors()):
            return f"lost the PostgreSQL connection ({type(current).__name__}: {detail})"
        if isinstance(current, KAFKA_ERRORS):
            return f"lost Kafka ({type(current).__name__}: {detail})"
        if isinstance(current, ConnectionError | TimeoutError):
            return f"lost a connection ({type(current).__name__}: {detail})"
        current = current.__cause__ or current.__context__
    return None
