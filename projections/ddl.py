"""Serialised schema creation: one DDL script at a time per database schema.

``CREATE TABLE IF NOT EXISTS`` is not safe under concurrency in PostgreSQL: two
sessions creating the same table at once can both pass the existence check and
the loser fails on the catalogue's unique index (``type ... already exists``).
Every certlife process that creates tables at start (command service, relay,
projections, mirror, CLIs) therefore takes the same advisory lock, keyed on the
schema, around its DDL.

A process that finds its tables already there runs no DDL at all
(``run_ddl(..., unless_exist=...)``): PostgreSQL refuses even ``CREATE TABLE IF
NOT EXISTS`` of an existing table ("permission denied for schema") to a role
without CREATE on the schema, and after ``certctl db migrate`` the services run
as such roles (``certlife.services.infra.dbroles``).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

#: SQL that takes the schema's DDL lock; its one parameter is ``ddl_lock_key(schema)``.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext($1))"


def ddl_lock_key(schema: str) -> str:
    """The advisory-lock key that serialises table creation in ``schema`` (quoted or not)."""
    if len(schema) > 1 and schema[0] == schema[-1] == '"':
        schema = schema[1:-1].replace('""', '"')
    return f"certlife-ddl:{schema}"


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier, always quoted (``"a""b"`` for ``a"b``)."""
    return '"' + name.replace('"', '""') + '"'


async def tables_exist(conn: asyncpg.Connection, qualified: Sequence[str]) -> bool:
    """True when every relation of ``qualified`` (SQL names, ``schema.table`` quoted as needed) exists."""
    missing = await conn.fetchval(
        "SELECT count(*) FROM unnest($1::text[]) AS t(name) WHERE to_regclass(t.name) IS NULL",
        list(qualified),
    )
    return not missing


async def run_ddl(
    conn: asyncpg.Connection, schema: str, sql: str, *, unless_exist: Sequence[str] = ()
) -> bool:
    """Run the DDL script ``sql`` in one transaction under ``schema``'s DDL lock; True when it ran.

    When every relation of ``unless_exist`` (qualified SQL names) already exists,
    nothing is run: a role without CREATE on the schema starts once the tables are there.
    """
    if unless_exist and await tables_exist(conn, unless_exist):
        return False
    async with conn.transaction():
        await conn.execute(LOCK_SQL, ddl_lock_key(schema))
        if unless_exist and await tables_exist(conn, unless_exist):
            return False
        await conn.execute(sql)
    return True
