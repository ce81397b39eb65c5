"""Processes starting together on an empty schema all create their tables.

PostgreSQL's ``CREATE TABLE IF NOT EXISTS`` fails for the loser of a concurrent
create (``type ... already exists``); certlife serialises its DDL per schema.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import asyncpg
import pytest

from certlife.projections.mirror_store import MirrorStore
from certlife.projections.tracking import create_tracking
from certlife.services.bootstrap import build_application
from certlife.services.infra.settings import Settings
from certlife.services.relay.store import RelayStore
from tests.kafka import admin

pytestmark = pytest.mark.integration

STARTERS = 6
ROUNDS = 4


async def _fresh_schema(database_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_schema(database_url: str, name: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


def _start_together(settings: Settings) -> list[BaseException]:
    """Build the application in STARTERS threads released at once; return their failures."""
    barrier = threading.Barrier(STARTERS)
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            build_application(settings).close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


async def _create_tables(conn: asyncpg.Connection, schema: str) -> None:
    await RelayStore(conn, schema).create()
    await create_tracking(conn, f'"{schema}"')
    await MirrorStore(conn, schema).create("origin.example/log")


async def test_applications_built_together_all_start(database_url: str) -> None:
    """Six threads build the event-sourced application on one empty schema at once."""
    for _ in range(ROUNDS):
        schema = await _fresh_schema(database_url)
        settings = Settings(kafka=admin(), database_url=database_url, db_schema=schema)
        try:
            assert _start_together(settings) == []
            conn = await asyncpg.connect(database_url)
            try:
                tables = await conn.fetch(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
                )
            finally:
                await conn.close()
            assert "certificateapplication_events" in {t["table_name"] for t in tables}
        finally:
            await _drop_schema(database_url, schema)


async def test_asyncpg_ddl_together_all_succeed(database_url: str) -> None:
    """Relay, projection and mirror table creation race on one empty schema without errors."""
    for _ in range(ROUNDS):
        schema = await _fresh_schema(database_url)
        conns = [await asyncpg.connect(database_url) for _ in range(STARTERS)]
        try:
            await asyncio.gather(*(_create_tables(c, schema) for c in conns))
            count = await conns[0].fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema
            )
            assert count == 13  # with projection_parked, mirror_parked and relay_credential_keys
        finally:
            for conn in conns:
                await conn.close()
            await _drop_schema(database_url, schema)
