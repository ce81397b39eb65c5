"""The native local stack: Apache Kafka from Maven Central and PostgreSQL from Debian.

``up`` is idempotent and reports endpoints; ``down`` stops only what ``up``
started (pid files and markers under the cache folder).

``StackSettings.brokers`` (``CERTLIFE_KAFKA_BROKERS``, ``certctl stack up --brokers 3``)
selects the single broker (1: ``$CERTLIFE_HOME/stack``, port 9092) or a cluster of
combined controller+broker nodes (``stack/cluster.py``: its own folder and ports). Both
use the one PostgreSQL server, which only the single stack's ``down`` stops.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass

from certlife.services.infra.stack import kafka, postgres
from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.settings import StackSettings

__all__ = ["Endpoints", "StackError", "StackSettings", "down", "resolve_endpoints", "status", "up"]


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


def up(settings: StackSettings | None = None, prefix: str | None = None) -> Endpoints:
    """Start Kafka and PostgreSQL unless they already run; return their endpoints.

    Also provisions the deployment of topic ``prefix`` (None: ``CERTLIFE_TOPIC_PREFIX``):
    its topics and its services' principals (:func:`provision`).
    """
    settings = settings or StackSettings.from_env()
    try:
        with _exclusive(settings):
            _up(settings, prefix)
    except OSError as exc:
        if exc.errno == 28:
            raise StackError(f"disk full under {settings.home}: free space and retry") from None
        raise StackError(f"{exc.strerror or exc}: {exc.filename or ''}".strip()) from None
    return Endpoints(settings.kafka_bootstrap, settings.database_url)


def _up(settings: StackSettings, prefix: str | None) -> None:
    if settings.clustered:
        from certlife.services.infra.stack import cluster

        cluster.preflight(settings)
        postgres.start(settings)
        cluster.start(settings)
        provision(settings, os.environ.get("CERTLIFE_TOPIC_PREFIX", "") if prefix is None else prefix)
        return
    if not kafka.running(settings):
        kafka.preflight(settings)
    postgres.start(settings)
    if kafka.start(settings):  # the listeners are fixed at start: open or close the unsafe one's ACLs
        _anonymous(settings)
    provision(settings, os.environ.get("CERTLIFE_TOPIC_PREFIX", "") if prefix is None else prefix)


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
    if bootstrap != settings.kafka_bootstrap:
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
    return stopped


def status(settings: StackSettings | None = None) -> list[str]:
    """One line per service."""
    settings = settings or StackSettings.from_env()
    if settings.clustered:
        from certlife.services.infra.stack import cluster

        return [*cluster.status(settings), postgres.status(settings)]
    return [kafka.status(settings), postgres.status(settings)]
