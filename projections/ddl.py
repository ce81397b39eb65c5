"""Serialised schema creation: one DDL script at a time per database schema.

``CREATE TABLE IF NOT EXISTS`` is not safe under concurrency in PostgreSQL: two
sessions creating the same table at once can both pass the existence check and
the loser fails on the catalogue's unique index (``type ... already exists``).
Every certlife process that creates tables at start (command service, relay,
projections, mirror, CLIs) therefore takes the same advisory lock, keyed on the
schema, around its DDL.
"""

from __future__ import annotations

import asyncpg

#: SQL that takes the schema's DDL lock; its one parameter is ``ddl_lock_key(schema)``.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext($1))"


def ddl_lock_key(schema: str) -> str:
    """The advisory-lock key that serialises table creation in ``schema`` (quoted or not)."""
    if len(schema) > 1 and schema[0] == schema[-1] == '"':
        schema = schema[1:-1].replace('""', '"')
    return f"certlife-ddl:{schema}"


async def run_ddl(conn: asyncpg.Connection, schema: str, sql: str) -> None:
    """Run the DDL script ``sql`` in one transaction under ``schema``'s DDL lock."""
    async with conn.transaction():
        await conn.execute(LOCK_SQL, ddl_lock_key(schema))
        await conn.execute(sql)
