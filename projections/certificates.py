"""The ``certificates`` projection: current state per certificate, by number and by id.

It answers status, search (holder, manufacturer, product, model, standard,
scheme, status), counts by status and scheme, expiry within N days and
suspensions awaiting review (see ``certlife.projections.queries``).

Writes are guarded by the log index: a row only changes when the incoming
record is newer (``log_index`` greater), so a redelivered record is a no-op.

A parked record (``certlife.projections.parking``) makes its certificate's row
``status = 'unavailable'`` with ``parked_index`` and ``log_index`` set to the
parked record's index; the other columns keep the last applied record's values
(NULL when none was applied). The next record of the certificate that applies
replaces the whole row and clears ``parked_index``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from certlife.contracts.records import Record
from certlife.contracts.verification.status import UNAVAILABLE
from certlife.domain.certificate import Certificate
from certlife.projections.base import Projection, parked_index_upgrade, table
from certlife.projections.mapping import CURRENT_COLUMNS, CurrentRow, fold_current
from certlife.projections.parking import Parked
from certlife.projections.staging import copy_rows, merge_sql, stage_sql

_COLUMNS = ", ".join(CURRENT_COLUMNS)
_KEEP_SUSPENSION = ("suspended_at", "suspension_reason")
_SET = ", ".join(
    f"{c} = CASE WHEN EXCLUDED.status <> 'suspended' THEN NULL ELSE COALESCE(EXCLUDED.{c}, t.{c}) END"
    if c in _KEEP_SUSPENSION
    else f"{c} = EXCLUDED.{c}"
    for c in CURRENT_COLUMNS
    if c != "number"
)
_CONFLICT = (
    f"ON CONFLICT (number) DO UPDATE SET {_SET}, parked_index = NULL WHERE t.log_index < EXCLUDED.log_index"
)
#: PostgreSQL type of each of ``CURRENT_COLUMNS`` in the stage: times as the table's (the rows carry
#: them as microseconds since the Unix epoch, ``certlife.projections.instants``), the lists as the
#: text of array literals (``mapping.text_array``), which the merge casts to ``text[]``.
CURRENT_TYPES = (
    "text", "uuid", "text", "text", "text", "text", "text", "text", "text", "text",
    "timestamptz", "timestamptz", "text", "text", "integer", "text", "timestamptz", "timestamptz", "bigint",
    "timestamptz", "text", "jsonb",
)  # fmt: skip
#: The session's staging table of live batches (``certlife.projections.staging``).
_STAGE = "certificates_live_stage"
_LISTS = ("factories", "models", "standards")
_SELECT = ", ".join(f"{c}::text[]" if c in _LISTS else c for c in CURRENT_COLUMNS)
_CREATE_STAGE = stage_sql(_STAGE, CURRENT_COLUMNS, CURRENT_TYPES)
#: Columns only an applied record fills (NULL on a row that is unavailable from the start).
_DATA = (
    "scheme", "holder", "manufacturer", "product", "scope", "factories", "models", "standards",
    "valid_from", "valid_until", "event", "seq", "effective_at", "recorded_at", "certificate",
)  # fmt: skip


class CertificatesProjection(Projection):
    """Current status and data of each certificate."""

    name = "certificates"
    tables = ("certificates",)

    def create_sql(self, schema_sql: str, generation: int) -> str:
        """The ``certificates_gN`` table."""
        return f"""
        CREATE TABLE {table(schema_sql, "certificates", generation)} (
            number text PRIMARY KEY, certificate_id uuid NOT NULL UNIQUE,
            scheme text, holder text, manufacturer text, product text, scope text,
            factories text[], models text[], standards text[],
            valid_from timestamptz, valid_until timestamptz,
            status text NOT NULL, event text, seq integer, reason text,
            effective_at timestamptz, recorded_at timestamptz,
            log_index bigint NOT NULL, suspended_at timestamptz, suspension_reason text,
            certificate jsonb, parked_index bigint)"""

    def upgrade_sql(self, schema_sql: str, generation: int) -> str:
        """Add ``parked_index`` and make the data columns nullable (tables of older releases)."""
        return parked_index_upgrade(table(schema_sql, "certificates", generation), _DATA)

    def index_sql(self, schema_sql: str, generation: int) -> str:
        """Indexes for search, counts, expiry and changes since a log index.

        Every applied record updates its certificate's row and each index of it,
        so only indexes a query uses are kept. The holder, manufacturer and
        product searches match a substring (``LIKE '%text%'``), which no btree
        serves; statistics on ``lower()`` of each (no write cost) give the
        planner their selectivity, which is all an expression index added.
        """
        t = table(schema_sql, "certificates", generation)
        g = f"certificates_g{generation}"
        return ";".join(
            [
                f"CREATE INDEX IF NOT EXISTS {g}_status ON {t} (status, scheme)",
                f"CREATE INDEX IF NOT EXISTS {g}_scheme ON {t} (scheme)",
                f"CREATE INDEX IF NOT EXISTS {g}_models ON {t} USING gin (models)",
                f"CREATE INDEX IF NOT EXISTS {g}_standards ON {t} USING gin (standards)",
                f"CREATE INDEX IF NOT EXISTS {g}_valid_until ON {t} (valid_until)",
                # "what changed since index N" (pollers, partners' incremental sync)
                f"CREATE INDEX IF NOT EXISTS {g}_log_index ON {t} (log_index)",
                f"CREATE STATISTICS IF NOT EXISTS {schema_sql}.{g}_search "
                f"ON (lower(holder)), (lower(manufacturer)), (lower(product)) FROM {t}",
            ]
        )

    def live_rows(self, records: Sequence[Record], issuer: str) -> list[CurrentRow]:
        """The newest row per certificate."""
        return list(fold_current(records, issuer).values())

    def session_sql(self) -> str:
        """The session's staging table of live batches (created if missing)."""
        return _CREATE_STAGE

    async def write_rows(
        self, conn: asyncpg.Connection, schema_sql: str, generation: int, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Upsert the rows (COPY to the session's stage, then one merge statement; :meth:`session_sql` run)."""
        t = table(schema_sql, "certificates", generation)
        await copy_rows(conn, _STAGE, CURRENT_COLUMNS, rows)
        await conn.execute(
            merge_sql(_STAGE, f"INSERT INTO {t} AS t ({_COLUMNS}) SELECT {_SELECT} FROM staged {_CONFLICT}")
        )

    async def mark_unavailable(
        self,
        conn: asyncpg.Connection,
        schema_sql: str,
        generation: int,
        parked: Sequence[Parked],
        issuer: str,
    ) -> None:
        """Upsert ``status = 'unavailable'`` for each parked record's certificate (if not newer)."""
        newest: dict[str, Parked] = {}
        for p in sorted(parked, key=lambda p: p.index):
            if p.number is not None:
                newest[p.number] = p
        if not newest:
            return
        t = table(schema_sql, "certificates", generation)
        await conn.executemany(
            f"INSERT INTO {t} AS t (number, certificate_id, status, log_index, parked_index) "
            "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (number) DO UPDATE SET status = EXCLUDED.status, "
            "log_index = EXCLUDED.log_index, parked_index = EXCLUDED.parked_index "
            "WHERE t.log_index < EXCLUDED.log_index",
            [(n, Certificate.create_id(issuer, n), UNAVAILABLE, p.index) for n, p in newest.items()],
        )

    async def write_bulk(
        self,
        conn: asyncpg.Connection,
        schema_sql: str,
        generation: int,
        records: Sequence[Record],
        issuer: str,
    ) -> None:
        """The newest rows through the live batches' stage and merge (:meth:`write_rows`), in the
        caller's transaction."""
        rows = [r.as_tuple() for r in fold_current(records, issuer).values()]
        if not rows:
            return
        await conn.execute(_CREATE_STAGE)
        await self.write_rows(conn, schema_sql, generation, rows)
