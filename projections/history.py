"""The ``history`` projection: every record of every certificate, keyed by log index.

A parked record (``certlife.projections.parking``) gets a placeholder row at its index
(when its certificate number is known): ``status = 'unavailable'``,
``parked_index`` = its index, only ``number`` and ``certificate_id`` filled.
The certificate's other records are kept as they come.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from certlife.contracts.records import Record
from certlife.contracts.verification.status import UNAVAILABLE
from certlife.domain.certificate import Certificate
from certlife.projections.base import Projection, parked_index_upgrade, table
from certlife.projections.mapping import HISTORY_COLUMNS, HistoryRow, history_rows
from certlife.projections.parking import Parked
from certlife.projections.staging import copy_rows, merge_sql, stage_sql

_COLUMNS = ", ".join(HISTORY_COLUMNS)
#: PostgreSQL type of each of ``HISTORY_COLUMNS`` (as in ``create_sql``).
HISTORY_TYPES = (
    "bigint", "text", "uuid", "integer", "text", "text", "text", "timestamptz", "timestamptz", "jsonb",
)  # fmt: skip
#: The session's staging table of live batches (``certlife.projections.staging``).
_STAGE = "history_live_stage"
_CREATE_STAGE = stage_sql(_STAGE, HISTORY_COLUMNS, HISTORY_TYPES)
#: Columns a placeholder row of a parked record leaves NULL.
_DATA = ("seq", "event", "effective_at", "recorded_at", "certificate")


class HistoryProjection(Projection):
    """Full history per certificate (append-only; a repeated index is ignored)."""

    name = "history"
    tables = ("certificate_history",)

    def create_sql(self, schema_sql: str, generation: int) -> str:
        """The ``certificate_history_gN`` table."""
        return f"""
        CREATE TABLE {table(schema_sql, "certificate_history", generation)} (
            log_index bigint PRIMARY KEY, number text NOT NULL, certificate_id uuid NOT NULL,
            seq integer, event text, status text NOT NULL, reason text,
            effective_at timestamptz, recorded_at timestamptz,
            certificate jsonb, parked_index bigint)"""

    def upgrade_sql(self, schema_sql: str, generation: int) -> str:
        """Add ``parked_index`` and make the data columns nullable (tables of older releases)."""
        return parked_index_upgrade(table(schema_sql, "certificate_history", generation), _DATA)

    def index_sql(self, schema_sql: str, generation: int) -> str:
        """One row per (number, seq): also the lookup path of a certificate's history."""
        t = table(schema_sql, "certificate_history", generation)
        return (
            f"CREATE UNIQUE INDEX IF NOT EXISTS certificate_history_g{generation}_number ON {t} (number, seq)"
        )

    def live_rows(self, records: Sequence[Record], issuer: str) -> list[HistoryRow]:
        """The batch's rows."""
        return history_rows(records, issuer)

    def session_sql(self) -> str:
        """The session's staging table of live batches (created if missing)."""
        return _CREATE_STAGE

    async def write_rows(
        self, conn: asyncpg.Connection, schema_sql: str, generation: int, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Insert the rows; a known index is skipped (:meth:`session_sql` run).

        The rows go by COPY straight into the table, in a savepoint. The live path
        writes only indexes past the stored position, which the table cannot hold
        yet (rows and position commit together), so this is the common case, at
        about 60% of the server CPU of the merge. When a row's index (or number and
        seq) is there all the same, as when rows are replayed without that filter,
        the savepoint is rolled back and the rows take the stage and the one merge
        that skips known indexes (and raises what it always raised for the rest).
        """
        try:
            async with conn.transaction():
                await copy_rows(
                    conn, f"certificate_history_g{generation}", HISTORY_COLUMNS, rows, _unquote(schema_sql)
                )
            return
        except asyncpg.UniqueViolationError:
            pass
        t = table(schema_sql, "certificate_history", generation)
        await copy_rows(conn, _STAGE, HISTORY_COLUMNS, rows)
        await conn.execute(
            merge_sql(
                _STAGE,
                f"INSERT INTO {t} ({_COLUMNS}) SELECT {_COLUMNS} FROM staged ON CONFLICT (log_index) DO NOTHING",
            )
        )

    async def mark_unavailable(
        self,
        conn: asyncpg.Connection,
        schema_sql: str,
        generation: int,
        parked: Sequence[Parked],
        issuer: str,
    ) -> None:
        """Insert a placeholder row for each parked record of a known certificate."""
        rows = [
            (p.index, p.number, Certificate.create_id(issuer, p.number), UNAVAILABLE)
            for p in parked
            if p.number is not None
        ]
        if rows:
            t = table(schema_sql, "certificate_history", generation)
            await conn.executemany(
                f"INSERT INTO {t} (log_index, number, certificate_id, status, parked_index) "
                "VALUES ($1, $2, $3, $4, $1) ON CONFLICT DO NOTHING",
                rows,
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
