"""What every projection provides: its tables per generation and two ways to write them."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import asyncpg

from contracts.records import Record


def table(schema_sql: str, base: str, generation: int) -> str:
    """The qualified name of ``base`` in ``generation`` (``schema.base_gN``)."""
    return f"{schema_sql}.{base}_g{generation}"


class Projection(abc.ABC):
    """A read model: versioned tables (``<table>_g<N>``) behind views named ``<table>``."""

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
    async def write_live(
        self,
        conn: asyncpg.Connection,
        schema_sql: str,
        generation: int,
        records: Sequence[Record],
        issuer: str,
    ) -> None:
        """Apply a live batch with executemany; idempotent per log index."""

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

    def drop_sql(self, schema_sql: str, generation: int) -> str:
        """DDL dropping the generation's tables."""
        return ";".join(f"DROP TABLE IF EXISTS {table(schema_sql, t, generation)}" for t in self.tables)

    def view_sql(self, schema_sql: str, generation: int) -> str:
        """DDL pointing each view at the generation's tables."""
        return ";".join(
            f"CREATE OR REPLACE VIEW {schema_sql}.{t} AS SELECT * FROM {table(schema_sql, t, generation)}"
            for t in self.tables
        )
