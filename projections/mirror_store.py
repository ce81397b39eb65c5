"""The partner mirror's tables: verified certificate status, history, position, parked records.

``mirror_parked`` keeps every verified record the mirror could not apply
(``certlife.projections.parking``): its index, certificate number (when storable),
reason code and message, exact bytes, the checkpoint it came under and when.
Such a record makes its certificate's ``mirror_certificates`` row
``status = 'unavailable'`` with ``parked_index`` and ``log_index`` set to its
index (other columns keep the last applied record's values, NULL when none
was), and leaves a placeholder ``mirror_history`` row with that status. The
next record of the certificate that applies replaces the row and clears
``parked_index``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from certlife.contracts.records import Record
from certlife.contracts.verification.status import UNAVAILABLE
from certlife.projections.ddl import run_ddl
from certlife.projections.mirror_rows import row_columns
from certlife.projections.parked import ParkedSummary, parked_json
from certlife.projections.parking import Parked
from certlife.projections.savepoints import write_or_park

_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.mirror_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    origin text NOT NULL, applied_size bigint NOT NULL, checkpoint_size bigint NOT NULL,
    checkpoint_root bytea, checkpoint_time text, failure jsonb,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS {s}.mirror_certificates (
    number text PRIMARY KEY, status text NOT NULL, seq integer,
    log_index bigint NOT NULL, event text, certificate jsonb,
    effective_at text, recorded_at text, checkpoint_size bigint NOT NULL, parked_index bigint);
CREATE TABLE IF NOT EXISTS {s}.mirror_history (
    log_index bigint PRIMARY KEY, number text NOT NULL, seq integer, event text,
    status text NOT NULL, reason text, effective_at text, recorded_at text, parked_index bigint);
CREATE INDEX IF NOT EXISTS mirror_history_number ON {s}.mirror_history (number, seq);
CREATE TABLE IF NOT EXISTS {s}.mirror_parked (
    log_index bigint PRIMARY KEY, number text, code text NOT NULL, message text NOT NULL,
    raw bytea NOT NULL, checkpoint_size bigint NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now());
"""
#: Rows as arrays, one per MirrorRow field, then the checkpoint size: every history row is inserted
#: and each certificate's newest row (highest log index) upserted, in one statement.
_WRITE_SQL = """
WITH r AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[])
        AS r(log_index, number, seq, event, status, reason, effective_at, recorded_at, certificate)),
h AS (
    INSERT INTO {s}.mirror_history (log_index, number, seq, event, status, reason, effective_at, recorded_at)
    SELECT log_index, number, seq, event, status, reason, effective_at, recorded_at FROM r
    ON CONFLICT (log_index) DO NOTHING)
INSERT INTO {s}.mirror_certificates AS c (number, status, seq, log_index, event, certificate,
    effective_at, recorded_at, checkpoint_size)
SELECT DISTINCT ON (number) number, status, seq, log_index, event, certificate::jsonb, effective_at,
    recorded_at, $10 FROM r ORDER BY number, log_index DESC
ON CONFLICT (number) DO UPDATE SET status = EXCLUDED.status, seq = EXCLUDED.seq,
    log_index = EXCLUDED.log_index, event = EXCLUDED.event, certificate = EXCLUDED.certificate,
    effective_at = EXCLUDED.effective_at, recorded_at = EXCLUDED.recorded_at,
    checkpoint_size = EXCLUDED.checkpoint_size, parked_index = NULL
    WHERE c.log_index < EXCLUDED.log_index
"""
# Mirrors created by an older release: the same columns as above (idempotent).
_UPGRADE_SQL = """
ALTER TABLE {s}.mirror_certificates ADD COLUMN IF NOT EXISTS parked_index bigint,
    ALTER COLUMN seq DROP NOT NULL, ALTER COLUMN event DROP NOT NULL,
    ALTER COLUMN certificate DROP NOT NULL, ALTER COLUMN effective_at DROP NOT NULL,
    ALTER COLUMN recorded_at DROP NOT NULL;
ALTER TABLE {s}.mirror_history ADD COLUMN IF NOT EXISTS parked_index bigint,
    ALTER COLUMN seq DROP NOT NULL, ALTER COLUMN event DROP NOT NULL,
    ALTER COLUMN effective_at DROP NOT NULL, ALTER COLUMN recorded_at DROP NOT NULL;
"""


class MirrorStore:
    """asyncpg access to a mirror's schema (one mirror per schema)."""

    def __init__(self, conn: asyncpg.Connection, schema: str) -> None:
        """Use ``conn`` (owned by the caller) and tables in ``schema``."""
        self.conn = conn
        self._s = f'"{schema}"'
        self._write_sql = _WRITE_SQL.format(s=self._s)

    async def create(self, origin: str) -> None:
        """Create (or bring up to date) the tables; refuse a schema that mirrors another origin."""
        await run_ddl(self.conn, self._s, _SCHEMA_SQL.format(s=self._s))
        if not await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) "
            "AND attname = 'parked_index' AND NOT attisdropped)",
            f"{self._s}.mirror_history",
        ):
            await run_ddl(self.conn, self._s, _UPGRADE_SQL.format(s=self._s))
        await self.conn.execute(
            f"INSERT INTO {self._s}.mirror_state (origin, applied_size, checkpoint_size) "
            "VALUES ($1, 0, 0) ON CONFLICT DO NOTHING",
            origin,
        )
        stored = await self.conn.fetchval(f"SELECT origin FROM {self._s}.mirror_state")
        if stored != origin:
            raise ValueError(f"this database schema mirrors {stored!r}, not {origin!r}")

    async def applied_size(self) -> int:
        """How many records (indexes 0..n-1) have been applied."""
        return int(await self.conn.fetchval(f"SELECT applied_size FROM {self._s}.mirror_state"))

    async def apply(
        self,
        records: Sequence[Record],
        checkpoint_size: int,
        root: bytes,
        checkpoint_time: str | None,
        parked: Sequence[Parked] = (),
    ) -> list[Parked]:
        """Apply verified, anchored records, park ``parked``, advance the position, in one transaction.

        A record PostgreSQL refuses is parked too; returns every parking kept
        for the first time (none when the same checkpoint is applied again).
        """
        async with self.conn.transaction():

            async def write(part: Sequence[Record]) -> None:
                await self._write(part, checkpoint_size)

            every = [*parked, *await write_or_park(self.conn, write, records)]
            first_time = await self._park(every, checkpoint_size)
            await self.conn.execute(
                f"UPDATE {self._s}.mirror_state SET applied_size = $1, checkpoint_size = $1, "
                "checkpoint_root = $2, checkpoint_time = $3, updated_at = now() "
                "WHERE applied_size <= $1",
                checkpoint_size,
                root,
                checkpoint_time,
            )
        return first_time

    async def _write(self, records: Sequence[Record], checkpoint_size: int) -> None:
        """Insert the history rows and upsert each certificate's newest row: one statement, any size."""
        columns = row_columns(records)
        if columns[0]:
            await self.conn.execute(self._write_sql, *columns, checkpoint_size)

    async def _park(self, parked: Sequence[Parked], checkpoint_size: int) -> list[Parked]:
        """Keep ``parked`` and mark their certificates unavailable; return those not kept before."""
        if not parked:
            return []
        rows = await self.conn.fetch(
            f"INSERT INTO {self._s}.mirror_parked (log_index, number, code, message, raw, checkpoint_size) "
            "SELECT *, $6::bigint FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[]) "
            "ON CONFLICT DO NOTHING RETURNING log_index",
            [p.index for p in parked],
            [p.number for p in parked],
            [p.code for p in parked],
            [p.message for p in parked],
            [p.raw for p in parked],
            checkpoint_size,
        )
        known = [p for p in sorted(parked, key=lambda p: p.index) if p.number is not None]
        await self.conn.executemany(
            f"INSERT INTO {self._s}.mirror_history (log_index, number, status, parked_index) "
            "VALUES ($1, $2, $3, $1) ON CONFLICT DO NOTHING",
            [(p.index, p.number, UNAVAILABLE) for p in known],
        )
        await self.conn.executemany(
            f"INSERT INTO {self._s}.mirror_certificates AS c "
            "(number, status, log_index, checkpoint_size, parked_index) VALUES ($1, $2, $3, $4, $3) "
            "ON CONFLICT (number) DO UPDATE SET status = EXCLUDED.status, log_index = EXCLUDED.log_index, "
            "checkpoint_size = EXCLUDED.checkpoint_size, parked_index = EXCLUDED.parked_index "
            "WHERE c.log_index < EXCLUDED.log_index",
            [(p.number, UNAVAILABLE, p.index, checkpoint_size) for p in known],
        )
        stored = {r["log_index"] for r in rows}
        return [p for p in parked if p.index in stored]

    async def record_failure(self, failure: dict[str, Any]) -> None:
        """Remember the first violation (the mirror stops applying at it)."""
        await self.conn.execute(
            f"UPDATE {self._s}.mirror_state SET failure = $1, updated_at = now()", json.dumps(failure)
        )

    async def parked(self, limit: int = 20) -> ParkedSummary:
        """How many records the mirror parked, and the ``limit`` lowest indexes with their reasons."""
        count = await self.conn.fetchval(f"SELECT count(*) FROM {self._s}.mirror_parked")
        rows = await self.conn.fetch(
            f"SELECT log_index, number, code, message, parked_at FROM {self._s}.mirror_parked "
            "ORDER BY log_index LIMIT $1",
            limit,
        )
        return ParkedSummary(int(count), [parked_json(r) for r in rows])

    async def status(self, number: str) -> dict[str, Any] | None:
        """The mirrored status of one certificate with the position it rests on.

        ``parked_code``/``parked_message`` say why when its status is ``unavailable``.
        A mirror of an older release (not run since) has no parked records.
        """
        common = (
            "c.status, c.seq, c.log_index, c.event, c.recorded_at, s.checkpoint_size, s.checkpoint_time, "
            f"s.failure FROM {self._s}.mirror_state s "
            f"LEFT JOIN {self._s}.mirror_certificates c ON c.number = $1"
        )
        try:
            row = await self.conn.fetchrow(
                "SELECT c.parked_index, p.code AS parked_code, p.message AS parked_message, "
                f"{common} LEFT JOIN {self._s}.mirror_parked p ON p.log_index = c.parked_index",
                number,
            )
        except (asyncpg.UndefinedColumnError, asyncpg.UndefinedTableError):
            row = await self.conn.fetchrow(
                f"SELECT NULL AS parked_index, NULL AS parked_code, NULL AS parked_message, {common}", number
            )
        return None if row is None else dict(row)
