"""``certctl db migrate|roles``: a deployment's tables and each PostgreSQL role's grants.

``db migrate`` runs as the schema owner (``CERTLIFE_DATABASE_URL``, the local
stack's ``certlife`` by default) on the schema ``CERTLIFE_DB_SCHEMA``: it
creates every table with each component's own code and grants each service
role what its process uses (``certlife.services.infra.dbroles``), then prints
one line per role. ``db roles`` lists the roles and what each may do. Neither
prints a password.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from certlife.services.cli.base import EXIT_FAILED, EXIT_OK, CliError

if TYPE_CHECKING:
    from certlife.services.infra.dbroles import EventStore, Granted
    from certlife.services.infra.settings import Settings

T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``db`` command group."""
    group = sub.add_parser("db", help="PostgreSQL: create a schema's tables and grant each role its rights")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = actions.add_parser(
        "migrate", help="as the schema owner: create the tables, grant each service role what it uses"
    )
    migrate.set_defaults(handler=_migrate)
    roles = actions.add_parser("roles", help="the roles and what each may do (no passwords)")
    roles.set_defaults(handler=_roles)


def event_store(settings: Settings) -> EventStore:
    """Creates the event store's tables with the real application as ``settings``' role; the events table."""

    def build() -> str:
        from certlife.services.bootstrap import build_application

        app = build_application(settings, create_tables=True, pool_size=1)
        try:
            return str(app.recorder.events_table_name)  # type: ignore[attr-defined]
        finally:
            app.close()

    async def create() -> str:
        return await asyncio.to_thread(build)

    return create


async def migrated(settings: Settings) -> list[Granted]:
    """Run the migration of ``settings.db_schema`` as ``settings``' role (the owner)."""
    from certlife.services import bootstrap
    from certlife.services.infra.dbroles import RoleNames, migrate

    conn = await bootstrap.postgres_connector(settings).connect(timeout=10)
    try:
        return await migrate(conn, settings.db_schema, RoleNames(), event_store=event_store(settings))
    finally:
        await conn.close()


def _migrate(args: argparse.Namespace) -> int:
    from certlife.services.infra.settings import Settings

    for granted in _run(migrated(Settings.from_env())):
        print(granted.line())
    return EXIT_OK


def _roles(args: argparse.Namespace) -> int:
    from certlife.services.infra.dbroles import DUTIES

    width = max(len(d.role) for d in DUTIES)
    for duty in DUTIES:
        used_by = duty.used_by.replace("`", "")
        print(f"{duty.role:<{width}}  {used_by}: {duty.may_do.replace('`', '')}")
    return EXIT_OK


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; database errors become one line (a URL's password is never part of them)."""
    import asyncpg
    import psycopg
    from eventsourcing.persistence import PersistenceError

    try:
        return asyncio.run(coro)
    except asyncpg.InsufficientPrivilegeError as exc:
        raise CliError(f"migration refused: {exc} (run it as the schema owner)", EXIT_FAILED) from None
    except (OSError, asyncpg.PostgresError, psycopg.Error, PersistenceError) as exc:
        raise CliError(f"cannot migrate the database: {type(exc).__name__}: {exc}", EXIT_FAILED) from None
