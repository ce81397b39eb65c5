"""The ``history`` projection: every record of every certificate, keyed by log index."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from contracts.records import Record
from projections.base import Projection, table
from projections.mapping import HISTORY_COLUMNS, history_rows

_COLUMNS = ", ".join(HISTORY_COLUMNS)


class HistoryProjection(Projection):
    """Full history per certificate (append-only; a repeated index is ignored)."""

    name = "history"
    tables = ("certificate_history",)

    def create_sql(self, schema_sql: str, generation: int) -> str:
        """The ``certificate_history_gN`` table."""
        return f"""
        CREATE TABLE {table(schema_sql, "certificate_history", generation)} (
            log_index bigint PRIMARY KEY, number text NOT NULL, certificate_id uuid NOT NULL,
            seq integer NOT NULL, event text NOT NULL, status text NOT NULL, reason text,
            effective_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL,
            certificate jsonb NOT NULL)"""

    def index_sql(self, schema_sql: str, generation: int) -> str:
        """One row per (number, seq): also the lookup path of a certificate's history."""
        t = table(schema_sql, "certificate_history", generation)
        return (
            f"CREATE UNIQUE INDEX IF NOT EXISTS certificate_history_g{generation}_number ON {t} (number, seq)"
        )

    async def write_live(
        self,
        conn: asyncpg.Connection,
        schema_sql: str,
        generation: int,
        records: Sequence[Record],
        issuer: str,
    ) -> None:
        """Insert the batch's rows (executemany); a known index is skipped."""
        rows = [r.as_tuple() for r in history_rows(records, issuer)]
        if not rows:
            return
        params = ", ".join(f"${i}" for i in range(1, len(HISTORY_COLUMNS) + 1))
        t = table(schema_sql, "certificate_history", generation)
        await conn.executemany(
            f"INSERT INTO {t} ({_COLUMNS}) VALUES ({params}) ON CONFLICT (log_index) DO NOTHING", rows
        )

    async def write_bulk(
        self,
        conn: asyncpg.Connection,
        schema_sql: str,
        generation: int,
        records: Sequence[Record],
        issuer: str,
    ) -> None:
        """COPY the chunk's rows (a fresh generation never holds them yet)."""
        rows = [r.as_tuple() for r in history_rows(records, issuer)]
        if rows:
            await conn.copy_records_to_table(
                f"certificate_history_g{generation}",
                schema_name=_unquote(schema_sql),
                records=rows,
                columns=list(HISTORY_COLUMNS),
            )


def _unquote(schema_sql: str) -> str:
    return schema_sql[1:-1].replace('""', '"')
