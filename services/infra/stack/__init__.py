"""The native local stack: Apache Kafka from Maven Central and PostgreSQL from Debian.

``up`` is idempotent and reports endpoints; ``down`` stops only what ``up``
started (pid files and markers under the cache folder).

``StackSettings.brokers`` (``CERTLIFE_KAFKA_BROKERS``, ``certctl stack up --brokers 3``)
selects the single broker (1: ``$CERTLIFE_HOME/stack``, port 9092) or a cluster of
combined controller+broker nodes (``stack/cluster.py``: its own folder and ports). Both
use the one PostgreSQL server, which only the single stack's ``down`` stops.

``up(pg_replica=True)`` (``certctl stack up --pg-replica``) also starts a synchronous
streaming replica of that server (``stack/pgreplica.py``); once one exists, every ``up``
starts it and the database URL lists both servers. ``promote`` makes it the primary.
``up(postgres_only=True)`` starts PostgreSQL (and its replica) without Kafka.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass

from certlife.services.infra.stack import kafka, pgstate, postgres
from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.settings import StackSettings

__all__ = [
    "Endpoints", "StackError", "StackSettings", "down", "promote", "resolve_endpoints", "status", "up",
]  # fmt: skip


@dataclass(frozen=True)
class Endpoints:
    """Where the running stack answers."""

    kafka_bootstrap: str
    database_url: str


@contextlib.contextmanager
def _exclusive(settings: StackSettings) -> Iterator[None]:
    """One ``up`` or ``down`` at a time on this machine's stack (two test runs starting it at once
    would both launch a broker: one wins the port, the other's pid file names the loser)."""
    settings.state.mkdir(parents=True, exist_ok=True)
    with open(settings.state / "stack.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def up(
    settings: StackSettings | None = None,
    prefix: str | None = None,
    *,
    pg_replica: bool = False,
    postgres_only: bool = False,
) -> Endpoints:
    """Start Kafka and PostgreSQL unless they already run; return their endpoints.

    Also provisions the deployment of topic ``prefix`` (None: ``CERTLIFE_TOPIC_PREFIX``):
    its topics and its services' principals (:func:`provision`). ``pg_replica``: also
    create and start PostgreSQL's synchronous replica; ``postgres_only``: no Kafka.
    """
    settings = settings or StackSettings.from_env()
    try:
        with _exclusive(settings):
            if postgres_only:
                settings = _up_postgres(settings, pg_replica)
            else:
                settings = _up(settings, prefix, pg_replica)
    except OSError as exc:
        if exc.errno == 28:
            raise StackError(f"disk full under {settings.home}: free space and retry") from None
        raise StackError(f"{exc.strerror or exc}: {exc.filename or ''}".strip()) from None
    return Endpoints(settings.kafka_bootstrap, settings.database_url)


def _up_postgres(settings: StackSettings, pg_replica: bool) -> StackSettings:
    """Start PostgreSQL, and its replica when asked or when one exists; the settings naming it."""
    postgres.start(settings)
    if not pg_replica and pgstate.load(settings.shared_state) is None:
        return settings
    from certlife.services.infra.stack import pgreplica

    state = pgreplica.start(settings)
    return dataclasses.replace(settings, postgres_replica_port=state.port, postgres_replicated=True)


def _up(settings: StackSettings, prefix: str | None, pg_replica: bool) -> StackSettings:
    if settings.clustered:
        from certlife.services.infra.stack import cluster

        cluster.preflight(settings)
        settings = _up_postgres(settings, pg_replica)
        cluster.start(settings)
        provision(settings, os.environ.get("CERTLIFE_TOPIC_PREFIX", "") if prefix is None else prefix)
        return settings
    if not kafka.running(settings):
        kafka.preflight(settings)
    settings = _up_postgres(settings, pg_replica)
    if kafka.start(settings):  # the listeners are fixed at start: open or close the unsafe one's ACLs
        _anonymous(settings)
    provision(settings, os.environ.get("CERTLIFE_TOPIC_PREFIX", "") if prefix is None else prefix)
    return settings


def provision(settings: StackSettings, prefix: str = "") -> None:
    """Create a deployment's topics and its three service principals on the local broker
    (``credentials.provision_services``; each credential is kept for restarts)."""
    import asyncio

    from certlife.services.infra.stack import credentials

    admin = kafka.admin_access(settings)
    asyncio.run(
        credentials.provision_services(settings.state, admin, prefix, credentials.journal(settings.state))
    )


def provision_if_local(bootstrap: str, prefix: str) -> bool:
    """:func:`provision` when ``bootstrap`` is the local stack's; False for another cluster (its operator's job)."""
    settings = StackSettings.from_env()
    if not settings.serves(bootstrap):
        return False
    provision(settings, prefix)
    return True


def _anonymous(settings: StackSettings) -> None:
    """Unsafe plaintext listener on: its anonymous principal may do anything; off: its ACLs go."""
    import asyncio

    from certlife.services.infra import principals

    asyncio.run(principals.open_to_anonymous(kafka.admin_access(settings), bool(settings.plaintext_port)))


def resolve_endpoints() -> tuple[str, str]:
    """Kafka bootstrap and database URL from the environment, else from the local stack (started)."""
    bootstrap = os.environ.get("CERTLIFE_KAFKA_BOOTSTRAP")
    database = os.environ.get("CERTLIFE_DATABASE_URL")
    if bootstrap and database:
        return bootstrap, database
    found = up()
    return bootstrap or found.kafka_bootstrap, database or found.database_url


def down(settings: StackSettings | None = None) -> list[str]:
    """Stop what ``up`` started; return the names of what was stopped."""
    settings = settings or StackSettings.from_env()
    stopped = []
    with _exclusive(settings):
        if settings.clustered:  # PostgreSQL is the single stack's to stop
            from certlife.services.infra.stack import cluster

            return cluster.stop(settings)
        if kafka.stop(settings):
            stopped.append("kafka")
        if postgres.stop(settings):
            stopped.append("postgres")
        replica = pgstate.load(settings.shared_state)
        if replica is not None:  # after the primary, which would wait for it
            from certlife.services.infra.stack import pgreplica

            if pgreplica.stop(replica):
                stopped.append("postgres replica")
    return stopped


def promote(settings: StackSettings | None = None) -> str:
    """Promote the PostgreSQL replica (the old primary is stopped and fenced); one line saying so."""
    from certlife.services.infra.stack import pgreplica

    settings = settings or StackSettings.from_env()
    with _exclusive(settings):
        state = pgreplica.promote(settings)
    return f"postgres: the replica at 127.0.0.1:{state.port} is the primary now"


def status(settings: StackSettings | None = None) -> list[str]:
    """One line per service."""
    settings = settings or StackSettings.from_env()
    database = [postgres.status(settings)]
    replica = pgstate.load(settings.shared_state)
    if replica is not None and replica.primary_port == settings.postgres_port:
        from certlife.services.infra.stack import pgreplica

        database = pgreplica.status(settings, replica)
    if settings.clustered:
        from certlife.services.infra.stack import cluster

        return [*cluster.status(settings), *database]
    return [kafka.status(settings), *database]
