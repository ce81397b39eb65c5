"""Resolve the Kafka and PostgreSQL endpoints that integration tests run against.

Order: explicit environment (``CERTLIFE_KAFKA_BOOTSTRAP``,
``CERTLIFE_DATABASE_URL``) -> testcontainers when a Docker engine answers ->
the native local stack, started here. Failing to get real infrastructure is a
test failure, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass


@dataclass(frozen=True)
class Infra:
    """Endpoints of the real broker and database, and how they were obtained."""

    kafka_bootstrap: str
    database_url: str
    source: str


def docker_answers() -> bool:
    """True when a Docker engine responds (not merely a client on PATH)."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        return True
    except Exception:  # any failure means "no engine": fall through to the native stack
        return False


def _from_containers(stack: ExitStack) -> Infra:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    pg = stack.enter_context(PostgresContainer("postgres:16", driver=None))
    kafka = stack.enter_context(KafkaContainer("apache/kafka:4.1.1").with_kraft())
    return Infra(kafka.get_bootstrap_server(), pg.get_connection_url(), "testcontainers")


def resolve(stack: ExitStack, on_native_start: Callable[[], None]) -> Infra:
    """Find or start real infrastructure; raise RuntimeError with the cause otherwise."""
    bootstrap = os.environ.get("CERTLIFE_KAFKA_BOOTSTRAP")
    database = os.environ.get("CERTLIFE_DATABASE_URL")
    if bootstrap and database:
        return Infra(bootstrap, database, "environment")
    if docker_answers():
        return _from_containers(stack)
    from certlife.services.infra import stack as native

    try:
        endpoints = native.up()
    except native.StackError as exc:
        raise RuntimeError(f"local stack could not start: {exc}") from None
    on_native_start()
    return Infra(bootstrap or endpoints.kafka_bootstrap, database or endpoints.database_url, "native")
