"""PostgreSQL least privilege for one deployment's schema: tables made by the owner, grants per role.

:func:`migrate` runs as the schema owner (``certctl db migrate``), on a
connection it is handed. It creates the schema and every table of a deployment
with each component's own DDL code — the event store through the real
application (the caller's ``event_store``), the relay's tables through
``RelayStore``, the read models and their tracking tables through the
projections' start-up code, run as the projections role so that it owns them
(a rebuild creates, swaps and drops generations) — and then grants each role
exactly what its process uses:

- ``certlife_commands``: SELECT, INSERT on the events table and USAGE on its
  sequence; UPDATE too, only because eventsourcing takes ``LOCK TABLE ... IN
  EXCLUSIVE MODE``, which PostgreSQL allows with UPDATE, DELETE or TRUNCATE.
  An append-only trigger refuses every UPDATE, DELETE and TRUNCATE of the
  events table, whoever sends it.
- ``certlife_relay``: SELECT on the events table; SELECT, INSERT, UPDATE on the
  ``relay_*`` tables (and USAGE on their sequence, for ``certctl keys``).
- ``certlife_projections``: owner of the tracking and read-model tables and
  views; CREATE on the schema; TEMPORARY on the database (a rebuild's staging table).
- ``certlife_reader``: SELECT on the read models and tracking tables, and, by
  default privileges, on every table or view the projections role creates later.

Each gets USAGE on the schema and, when the owner owns the database, CONNECT
on it; PUBLIC loses CONNECT and TEMPORARY on the database and CREATE on schema
``public``. Running it again changes nothing. The owner needs no superuser
rights: it owns the database and is a member of the projections role.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from certlife.domain.errors import CertlifeError
from certlife.projections.ddl import LOCK_SQL, ddl_lock_key, quote_ident, run_ddl
from certlife.projections.registry import PROJECTIONS
from certlife.projections.tracking import TRACKING_TABLES, create_tracking, ensure_projection
from certlife.services.infra.stack import pgroles
from certlife.services.relay.store import RELAY_TABLES, RelayStore

#: Creates the event store's tables (as the owner, with the real application); returns the events table's name.
EventStore = Callable[[], Awaitable[str]]

#: The trigger (and its function) that keeps the events table append-only.
APPEND_ONLY = "certlife_append_only"
_APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION {s}.certlife_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'certlife: %.% is append-only (% refused)', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS certlife_append_only ON {s}.{table};
CREATE TRIGGER certlife_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {s}.{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.certlife_append_only();
"""


class RolesError(CertlifeError, code="db-roles"):
    """The roles a migration needs are missing or the owner cannot act for them; one line with the fix."""


@dataclass(frozen=True)
class RoleNames:
    """The roles of a deployment (the local stack's names by default)."""

    owner: str = pgroles.OWNER
    commands: str = pgroles.COMMANDS
    relay: str = pgroles.RELAY
    projections: str = pgroles.PROJECTIONS
    reader: str = pgroles.READER

    @property
    def services(self) -> tuple[str, ...]:
        """The roles processes log in as (every role but the owner)."""
        return (self.commands, self.relay, self.projections, self.reader)


@dataclass(frozen=True)
class Duty:
    """What one role is for: who uses it and what it may do."""

    role: str
    used_by: str
    may_do: str


#: The roles and what each may do, as ``certctl db roles`` and the README show them.
DUTIES: tuple[Duty, ...] = (
    Duty(
        pgroles.OWNER,
        "`certctl db migrate` only",
        "owns the database and the schema; creates the tables, grants",
    ),
    Duty(
        pgroles.COMMANDS,
        "`certctl serve commands`",
        "SELECT, INSERT on the event store, USAGE on its sequence; UPDATE only for eventsourcing's "
        "`LOCK TABLE` (a trigger refuses UPDATE, DELETE, TRUNCATE)",
    ),
    Duty(
        pgroles.RELAY,
        "`certctl serve relay` and `serve publisher` (status list commitments), "
        "`certctl keys rotate`/`compromise`/`credential announce`, `certctl show`/`history`",
        "SELECT on the event store; SELECT, INSERT, UPDATE on the `relay_*` tables",
    ),
    Duty(
        pgroles.PROJECTIONS,
        "`certctl serve projections`, `certctl projections rebuild`",
        "owns the read models and their tracking tables; CREATE on the schema (rebuilds), TEMPORARY",
    ),
    Duty(
        pgroles.READER,
        "`certctl status`, `certctl projections status`, read-model queries",
        "SELECT on the read models and tracking tables, also on generations created later",
    ),
)


def roles_table() -> str:
    """The README's table of roles (role, used by, may do), one row per entry of ``DUTIES``."""
    rows = ["| role | used by | may do |", "| --- | --- | --- |"]
    rows += [f"| `{d.role}` | {d.used_by} | {d.may_do} |" for d in DUTIES]
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Granted:
    """What :func:`migrate` granted one role."""

    role: str
    what: str

    def line(self) -> str:
        """``role: what``."""
        return f"{self.role}: {self.what}"


async def migrate(
    conn: asyncpg.Connection, schema: str, roles: RoleNames, *, event_store: EventStore
) -> list[Granted]:
    """Create ``schema`` and its tables as the owner and grant each role of ``roles`` what it uses.

    ``conn`` is the owner's session (left open, its role restored); ``event_store``
    creates the event store's tables. Idempotent. Raises :class:`RolesError` when
    a role is missing or the owner is not a member of the projections role.
    """
    s = quote_ident(schema)
    await _check_roles(conn, roles)
    async with conn.transaction():
        await conn.execute(LOCK_SQL, ddl_lock_key(schema))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        await _schema_grants(conn, s, roles)
    events = await event_store()
    await run_ddl(conn, schema, _APPEND_ONLY_SQL.format(s=s, table=quote_ident(events)))
    store = RelayStore(conn, schema)
    await store.create()
    await store.install_notify(events, replace=True)
    await _create_read_models(conn, schema, roles)
    async with conn.transaction():
        await conn.execute(LOCK_SQL, ddl_lock_key(schema))
        return await _grant(conn, schema, events, roles)


async def _check_roles(conn: asyncpg.Connection, roles: RoleNames) -> None:
    missing = await conn.fetch(
        "SELECT name FROM unnest($1::text[]) AS t(name) WHERE NOT EXISTS "
        "(SELECT 1 FROM pg_roles WHERE rolname = t.name)",
        list(roles.services),
    )
    if missing:
        names = ", ".join(r["name"] for r in missing)
        raise RolesError(
            f"PostgreSQL role(s) missing: {names}: run certctl stack up as root (local stack) "
            "or create them as the README's 'PostgreSQL roles' says"
        )
    user = await conn.fetchval("SELECT current_user")
    if user in roles.services:
        raise RolesError(
            f"migrations run as the schema owner, not as {user}: use the owner's CERTLIFE_DATABASE_URL"
        )
    if not await conn.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", roles.projections):
        raise RolesError(
            f"role {user} cannot create tables for {roles.projections}: "
            f"as a superuser, GRANT {quote_ident(roles.projections)} TO {quote_ident(user)}"
        )


async def _schema_grants(conn: asyncpg.Connection, s: str, roles: RoleNames) -> None:
    services = ", ".join(quote_ident(r) for r in roles.services)
    await conn.execute(f"REVOKE ALL ON SCHEMA {s} FROM {services}")
    await conn.execute(f"GRANT USAGE ON SCHEMA {s} TO {services}")
    await conn.execute(f"GRANT CREATE ON SCHEMA {s} TO {quote_ident(roles.projections)}")


def _projection_pattern() -> tuple[list[str], str]:
    """Names of the projections' relations: exact names, and a regex of generation tables."""
    bases = [t for p in PROJECTIONS.values() for t in p.tables]
    exact = [*TRACKING_TABLES, *bases]
    generations = "^(" + "|".join(re.escape(b) for b in bases) + ")_g[0-9]+$"
    return exact, generations


async def _projection_relations(conn: asyncpg.Connection, schema: str) -> list[asyncpg.Record]:
    """The read models' and tracking tables' relations in ``schema``: name, kind, owner."""
    exact, generations = _projection_pattern()
    return list(
        await conn.fetch(
            "SELECT c.relname AS name, c.relkind AS kind, pg_get_userbyid(c.relowner) AS owner "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm') "
            "AND (c.relname = ANY($2::text[]) OR c.relname ~ $3) ORDER BY c.relname",
            schema,
            exact,
            generations,
        )
    )


async def _create_read_models(conn: asyncpg.Connection, schema: str, roles: RoleNames) -> None:
    """Hand existing read models to the projections role, then create the missing ones as that role."""
    s = quote_ident(schema)
    owner = quote_ident(roles.projections)
    for rel in await _projection_relations(conn, schema):
        if rel["owner"] != roles.projections:
            kind = "VIEW" if rel["kind"] == "v" else "TABLE"
            await conn.execute(f"ALTER {kind} {s}.{quote_ident(rel['name'])} OWNER TO {owner}")
    await conn.execute(f"SET ROLE {owner}")
    try:
        await create_tracking(conn, s)
        for projection in PROJECTIONS.values():
            await ensure_projection(conn, s, projection)
    finally:
        await conn.execute("RESET ROLE")


async def _sequences(conn: asyncpg.Connection, qualified: str) -> list[str]:
    """The sequences owned by the columns of table ``qualified`` (serial, identity), as SQL names."""
    rows = await conn.fetch(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name FROM pg_depend d "
        "JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE d.classid = 'pg_class'::regclass AND d.refobjid = to_regclass($1) "
        "AND d.deptype IN ('a', 'i') AND c.relkind = 'S' ORDER BY 1",
        qualified,
    )
    return [r["name"] for r in rows]


async def _owns(conn: asyncpg.Connection, catalog_sql: str) -> bool:
    """True when the current role is a member of the owner that ``catalog_sql`` selects."""
    return bool(
        await conn.fetchval(f"SELECT pg_has_role(current_user, owner, 'MEMBER') FROM ({catalog_sql}) o")
    )


async def _database_grants(conn: asyncpg.Connection, roles: RoleNames) -> str | None:
    """CONNECT for the service roles, TEMPORARY for the projections, nothing for PUBLIC.

    Only when the current role owns the database (its name is returned; None
    otherwise: whoever owns it decides). CREATE on schema ``public`` is revoked
    from PUBLIC when the current role owns that schema.
    """
    owned = None
    if await _owns(conn, "SELECT datdba AS owner FROM pg_database WHERE datname = current_database()"):
        owned = quote_ident(await conn.fetchval("SELECT current_database()"))
        services = ", ".join(quote_ident(r) for r in roles.services)
        await conn.execute(f"REVOKE ALL ON DATABASE {owned} FROM PUBLIC")
        await conn.execute(f"GRANT CONNECT ON DATABASE {owned} TO {services}")
        await conn.execute(f"GRANT TEMPORARY ON DATABASE {owned} TO {quote_ident(roles.projections)}")
    if await _owns(conn, "SELECT nspowner AS owner FROM pg_namespace WHERE nspname = 'public'"):
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    return owned


async def _grant_tables(
    conn: asyncpg.Connection, tables: Sequence[str], revoke_from: str, grants: Sequence[tuple[str, str]]
) -> None:
    """Revoke everything from ``revoke_from`` on ``tables``, then grant each (privileges, role) of ``grants``."""
    for table in tables:
        await conn.execute(f"REVOKE ALL ON TABLE {table} FROM {revoke_from}")
        for privileges, role in grants:
            await conn.execute(f"GRANT {privileges} ON TABLE {table} TO {role}")


async def _grant_sequences(
    conn: asyncpg.Connection, sequences: Sequence[str], revoke_from: str, role: str
) -> None:
    for sequence in sequences:
        await conn.execute(f"REVOKE ALL ON SEQUENCE {sequence} FROM {revoke_from}")
        await conn.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {role}")


async def _grant(conn: asyncpg.Connection, schema: str, events: str, roles: RoleNames) -> list[Granted]:
    s = quote_ident(schema)
    commands, relay = quote_ident(roles.commands), quote_ident(roles.relay)
    projections, reader = quote_ident(roles.projections), quote_ident(roles.reader)
    everyone = ", ".join(["PUBLIC", *(quote_ident(r) for r in roles.services)])
    await _schema_grants(conn, s, roles)
    database = await _database_grants(conn, roles)

    events_sql = f"{s}.{quote_ident(events)}"
    event_sequences = await _sequences(conn, events_sql)
    await _grant_tables(
        conn, [events_sql], everyone, [("SELECT, INSERT, UPDATE", commands), ("SELECT", relay)]
    )
    await _grant_sequences(conn, event_sequences, everyone, commands)

    relay_tables = [f"{s}.{quote_ident(t)}" for t in RELAY_TABLES]
    relay_sequences = [q for t in relay_tables for q in await _sequences(conn, t)]
    await _grant_tables(conn, relay_tables, everyone, [("SELECT, INSERT, UPDATE", relay)])
    await _grant_sequences(conn, relay_sequences, everyone, relay)

    others = ", ".join(["PUBLIC", commands, relay, reader])
    read_models = [f"{s}.{quote_ident(r['name'])}" for r in await _projection_relations(conn, schema)]
    await _grant_tables(conn, read_models, others, [("SELECT", reader)])
    await conn.execute(
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {projections} IN SCHEMA {s} GRANT SELECT ON TABLES TO {reader}"
    )

    where = f"USAGE on schema {s}" + (f", CONNECT on database {database}" if database else "")
    temporary = f", TEMPORARY on database {database}" if database else ""
    return [
        Granted(
            roles.commands,
            f"{where}; SELECT, INSERT, UPDATE on {events_sql} (UPDATE only for LOCK TABLE: the "
            f"{APPEND_ONLY} trigger refuses UPDATE, DELETE, TRUNCATE); USAGE on "
            f"{', '.join(event_sequences) or 'no sequence'}",
        ),
        Granted(
            roles.relay,
            f"{where}; SELECT on {events_sql}; SELECT, INSERT, UPDATE on {', '.join(RELAY_TABLES)}; "
            f"USAGE on {', '.join(relay_sequences) or 'no sequence'}",
        ),
        Granted(
            roles.projections,
            f"{where}, CREATE on schema {s}{temporary}; owns {len(read_models)} "
            "read-model and tracking tables and views",
        ),
        Granted(
            roles.reader,
            f"{where}; SELECT on {len(read_models)} read-model and tracking tables and views, "
            "and on those the projections create later",
        ),
    ]
