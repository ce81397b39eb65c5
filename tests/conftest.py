"""Session fixtures: real Kafka and PostgreSQL, unique topics and schemas per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from urllib.parse import urlparse

import pytest

from tests.infra import Infra, resolve


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """The real broker and database for this test session."""
    started: list[bool] = []
    with ExitStack() as stack:
        failure = ""
        try:
            found = resolve(stack, lambda: started.append(True))
        except RuntimeError as exc:
            failure = str(exc)
        if failure:
            pytest.fail(failure, pytrace=False)
        if found.source == "native":  # the local stack: delete this session's topics afterwards
            from tests.kafka import admin
            from tests.topic_cleanup import cleaned_session, lock_path

            stack.enter_context(cleaned_session(admin(found.kafka_bootstrap), lock_path()))
        yield found
    # The native stack is left running for the next run (it is cheap to reuse);
    # `certctl stack down` stops it. CI stops it explicitly.


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    """Bootstrap address of the real Kafka broker."""
    return infra.kafka_bootstrap


@pytest.fixture(scope="session")
def database_url(infra: Infra) -> str:
    """libpq URL of the real PostgreSQL database."""
    return infra.database_url


@pytest.fixture(autouse=True)
def _no_leftover_services() -> Iterator[None]:
    """No service process a test started outlives it (a failed test would leave it consuming)."""
    yield
    from tests.procs import kill_started

    kill_started()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Make names unique to this test (topics, groups, transactional ids)."""
    token = uuid.uuid4().hex[:10]
    return lambda base: f"t{token}.{base}"


@pytest.fixture
async def pg_schema(database_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL schema for this test, dropped afterwards."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def pg_env(database_url: str, pg_schema: str) -> dict[str, str]:
    """eventsourcing settings for a PostgreSQL event store in this test's own schema."""
    url = urlparse(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": pg_schema,
        "CREATE_TABLE": "y",
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In CI, refuse to deselect integration tests by marker expression."""
    if (
        os.environ.get("CI")
        and "integration" in (config.getoption("-m") or "")
        and "not" in (config.getoption("-m") or "")
    ):
        raise pytest.UsageError("CI runs every test: do not deselect integration tests")
