"""What every projection provides: its tables per generation and two ways to write them."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from certlife.contracts.records import Record
from certlife.projections.parking import Parked


def table(schema_sql: str, base: str, generation: int) -> str:
    """The qualified name of ``base`` in ``generation`` (``schema.base_gN``)."""
    return f"{schema_sql}.{base}_g{generation}"


def parked_index_upgrade(qualified_table: str, nullable: Iterable[str]) -> str:
    """``ALTER TABLE`` adding ``parked_index`` and making ``nullable`` columns nullable (idempotent)."""
    changes = ["ADD COLUMN IF NOT EXISTS parked_index bigint"]
    changes += [f"ALTER COLUMN {c} DROP NOT NULL" for c in nullable]
    return f"ALTER TABLE {qualified_table} {', '.join(changes)}"


class Projection(abc.ABC):
    """A read model: versioned tables (``<table>_g<N>``) behind views named ``<table>``.

    Every table has a ``parked_index`` column: a row whose ``status`` is
    ``unavailable`` rests on the parked record at that index
    (``certlife.projections.parking``); on every other row it is NULL.
    """

    #: The projection's name (``certctl projections rebuild NAME``).
    name: str
    #: Base names of its tables; a view of each name points at the live generation.
    tables: tuple[str, ...]

    @abc.abstractmethod
    def create_sql(self, schema_sql: str, generation: int) -> str:
        """DDL creating the generation's tables (no secondary indexes)."""

    @abc.abstractmethod
    def index_sql(self, schema_sql: str, generation: int) -> str:
        """DDL creating the generation's secondary indexes (after a bulk load)."""

    @abc.abstractmethod
    def live_rows(self, records: Sequence[Record], issuer: str) -> Sequence[tuple[Any, ...]]:
        """The rows a live batch of ``records`` writes (no IO).

        Raises a parkable error (``certlife.projections.parking.PARKABLE_ERRORS``)
        for a value that cannot be mapped.
        """

    @abc.abstractmethod
    async def write_rows(
        self, conn: asyncpg.Connection, schema_sql: str, generation: int, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Write ``rows`` from :meth:`live_rows` (not empty); idempotent per log index."""

    def session_sql(self) -> str:
        """SQL that :meth:`write_rows` needs run first in its transaction (e.g. a staging table), or ""."""
        return ""

    async def write_live(
        self,
        conn: asyncpg.Connection,
        schema_sql: str,
        generation: int,
        records: Sequence[Record],
        issuer: str,
    ) -> None:
        """Apply a live batch (:meth:`write_rows` of :meth:`live_rows`); idempotent per log index."""
        rows = self.live_rows(records, issuer)
        if rows:
            setup = self.session_sql()
            if setup:
                await conn.execute(setup)
            await self.write_rows(conn, schema_sql, generation, rows)

    @abc.abstractmethod
    async def write_bulk(
        self,
        conn: asyncpg.Connection,
        schema_sql: str,
        generation: int,
        records: Sequence[Record],
        issuer: str,
    ) -> None:
        """Apply a rebuild chunk with COPY; same effect as :meth:`write_live`."""

    @abc.abstractmethod
    async def mark_unavailable(
        self,
        conn: asyncpg.Connection,
        schema_sql: str,
        generation: int,
        parked: Sequence[Parked],
        issuer: str,
    ) -> None:
        """Mark the certificates of ``parked`` records unavailable; idempotent per log index."""

    def upgrade_sql(self, schema_sql: str, generation: int) -> str:
        """DDL bringing a generation of an older release up to :meth:`create_sql` (idempotent)."""
        return ""

    def drop_sql(self, schema_sql: str, generation: int) -> str:
        """DDL dropping the generation's tables."""
        return ";".join(f"DROP TABLE IF EXISTS {table(schema_sql, t, generation)}" for t in self.tables)

    def view_sql(self, schema_sql: str, generation: int) -> str:
        """DDL pointing each view at the generation's tables."""
        return ";".join(
            f"CREATE OR REPLACE VIEW {schema_sql}.{t} AS SELECT * FROM {table(schema_sql, t, generation)}"
            for t in self.tables
        )
