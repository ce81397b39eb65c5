"""The partner mirror's tables: verified certificate status, history, position."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from contracts.records import Record
from projections.ddl import run_ddl

_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.mirror_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    origin text NOT NULL, applied_size bigint NOT NULL, checkpoint_size bigint NOT NULL,
    checkpoint_root bytea, checkpoint_time text, failure jsonb,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS {s}.mirror_certificates (
    number text PRIMARY KEY, status text NOT NULL, seq integer NOT NULL,
    log_index bigint NOT NULL, event text NOT NULL, certificate jsonb NOT NULL,
    effective_at text NOT NULL, recorded_at text NOT NULL, checkpoint_size bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.mirror_history (
    log_index bigint PRIMARY KEY, number text NOT NULL, seq integer NOT NULL, event text NOT NULL,
    status text NOT NULL, reason text, effective_at text NOT NULL, recorded_at text NOT NULL);
CREATE INDEX IF NOT EXISTS mirror_history_number ON {s}.mirror_history (number, seq);
"""


class MirrorStore:
    """asyncpg access to a mirror's schema (one mirror per schema)."""

    def __init__(self, conn: asyncpg.Connection, schema: str) -> None:
        """Use ``conn`` (owned by the caller) and tables in ``schema``."""
        self.conn = conn
        self._s = f'"{schema}"'

    async def create(self, origin: str) -> None:
        """Create the tables; refuse a schema that mirrors another origin."""
        await run_ddl(self.conn, self._s, _SCHEMA_SQL.format(s=self._s))
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
        self, records: Sequence[Record], checkpoint_size: int, root: bytes, checkpoint_time: str | None
    ) -> None:
        """Apply verified, anchored records and advance the position, in one transaction."""
        certs: dict[str, Record] = {}
        for rec in records:
            if rec.kind == "certificate" and rec.number is not None:
                certs[rec.number] = rec
        async with self.conn.transaction():
            await self.conn.executemany(
                f"INSERT INTO {self._s}.mirror_history VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT (log_index) DO NOTHING",
                [
                    (
                        r.index,
                        r.number,
                        r.data["seq"],
                        r.data["event"],
                        r.data["status"],
                        r.data["reason"],
                        r.data["effectiveAt"],
                        r.data["recordedAt"],
                    )
                    for r in records
                    if r.kind == "certificate"
                ],
            )
            await self.conn.executemany(
                f"INSERT INTO {self._s}.mirror_certificates AS c VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (number) DO UPDATE SET status = EXCLUDED.status, seq = EXCLUDED.seq, "
                "log_index = EXCLUDED.log_index, event = EXCLUDED.event, "
                "certificate = EXCLUDED.certificate, effective_at = EXCLUDED.effective_at, "
                "recorded_at = EXCLUDED.recorded_at, checkpoint_size = EXCLUDED.checkpoint_size "
                "WHERE c.log_index < EXCLUDED.log_index",
                [
                    (
                        n,
                        r.data["status"],
                        r.data["seq"],
                        r.index,
                        r.data["event"],
                        json.dumps(r.data["certificate"]),
                        r.data["effectiveAt"],
                        r.data["recordedAt"],
                        checkpoint_size,
                    )
                    for n, r in certs.items()
                ],
            )
            await self.conn.execute(
                f"UPDATE {self._s}.mirror_state SET applied_size = $1, checkpoint_size = $1, "
                "checkpoint_root = $2, checkpoint_time = $3, updated_at = now() "
                "WHERE applied_size <= $1",
                checkpoint_size,
                root,
                checkpoint_time,
            )

    async def record_failure(self, failure: dict[str, Any]) -> None:
        """Remember the first violation (the mirror stops applying at it)."""
        await self.conn.execute(
            f"UPDATE {self._s}.mirror_state SET failure = $1, updated_at = now()", json.dumps(failure)
        )

    async def status(self, number: str) -> dict[str, Any] | None:
        """The mirrored status of one certificate with the position it rests on."""
        row = await self.conn.fetchrow(
            f"SELECT c.status, c.seq, c.log_index, c.event, c.recorded_at, s.checkpoint_size, "
            f"s.checkpoint_time, s.failure FROM {self._s}.mirror_state s "
            f"LEFT JOIN {self._s}.mirror_certificates c ON c.number = $1",
            number,
        )
        return None if row is None else dict(row)
