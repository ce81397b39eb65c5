"""A status API over real read models and a real tiles directory, built from a LogBuilder log.

The records go through the projections' own writers (``write_live``) into a
fresh PostgreSQL schema, the tiles through ``TileWriter``; the API is the real
``build_app`` on an asyncpg pool, called in process (httpx ASGI transport).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from fastapi import FastAPI

from certlife.contracts.records import parse_record
from certlife.contracts.trust import TrustFile
from certlife.projections.registry import PROJECTIONS
from certlife.projections.tracking import Position, create_tracking, ensure_projection, save_position
from certlife.services.api.app import ApiOptions, build_app
from certlife.services.tiles.writer import TileWriter
from tests.unit.logbuilder import LogBuilder

ISSUER = "certlife.example"


@dataclass
class Api:
    """The app, an in-process client, the log and its trust file."""

    app: FastAPI
    client: httpx.AsyncClient
    log: LogBuilder
    trust: TrustFile
    checkpointed: int


async def load(conn: asyncpg.Connection, schema: str, log: LogBuilder, checkpoint: int) -> None:
    """Apply every record of ``log`` to the read models of ``schema``; the newest checkpoint is ``checkpoint``."""
    s = f'"{schema}"'
    records = [parse_record(r) for r in log.records]
    await create_tracking(conn, s)
    for p in PROJECTIONS.values():
        generation = await ensure_projection(conn, s, p)
        async with conn.transaction():
            await p.write_live(conn, s, generation, records, ISSUER)
            await save_position(conn, s, p.name, Position(generation, len(records) - 1, checkpoint))


def publish(directory: Path, log: LogBuilder, size: int) -> None:
    """Write the log's records as tiles and publish a checkpoint of the first ``size``."""
    writer = TileWriter(directory)
    writer.append(log.records)
    writer.publish(log.sign_checkpoint(size))


@contextlib.asynccontextmanager
async def running(
    database_url: str, schema: str, tiles: Path, log: LogBuilder, checkpointed: int, options: ApiOptions
) -> AsyncIterator[Api]:
    """The API over ``log`` (records past ``checkpointed`` are applied but not in the tiles' checkpoint)."""
    conn = await asyncpg.connect(database_url)
    try:
        await load(conn, schema, log, checkpointed)
    finally:
        await conn.close()
    publish(tiles, log, checkpointed)
    trust = log.trust()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        app = build_app(pool, f'"{schema}"', tiles, trust.to_bytes(), options)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield Api(app, client, log, trust, checkpointed)
    finally:
        await pool.close()
