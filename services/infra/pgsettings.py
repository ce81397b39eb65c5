"""Session settings of certlife's own PostgreSQL sessions (asyncpg and eventsourcing's psycopg pool).

``plan_cache_mode = force_custom_plan``: every statement is planned with its
parameters and the tables' current size, never with a cached generic plan.
A new deployment's tables start empty and grow by thousands of rows a minute;
a generic plan chosen while a table was small kept scanning it whole as it
grew. Measured with pg_stat_statements at 500 commands/s, about 30,000 rows
in: the relay's chain-head lookup took 24 ms per batch and the command
service's aggregate preload 17 ms (a third of a core between them, and on
each batch's critical path); planned for their parameters both are index
lookups of well under a millisecond. Planning each execution costs a
fraction of a millisecond per statement, a few statements per batch.
"""

from __future__ import annotations

#: asyncpg ``server_settings`` of every session.
SESSION_SETTINGS: dict[str, str] = {"plan_cache_mode": "force_custom_plan"}


def libpq_options() -> str:
    """The same settings as a libpq ``options`` connection parameter (psycopg)."""
    return " ".join(f"-c {name}={value}" for name, value in SESSION_SETTINGS.items())
