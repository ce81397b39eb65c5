"""The witness's durable state in PostgreSQL: the logs it witnesses and its latest cosigned checkpoint.

Tables (in the configured schema)::

    witness_logs(origin PK, size, root_hash, note, cosignature, updated_at)
    witness_log_keys(origin, vkey)       the log's note keys the witness trusts

A log starts at size 0 with the empty tree's root. :meth:`WitnessStore.advance`
checks and moves a log's state inside one transaction that holds the row lock,
and writes with a compare-and-swap on (size, root); the caller hands the
cosignature out only after the commit, so no cosignature ever leaves the witness
for a checkpoint inconsistent with the state it recorded, whatever the
interleaving of requests or the instant of a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from certlife.contracts.merkle import EMPTY_ROOT
from certlife.domain.errors import CertlifeError
from certlife.projections.ddl import quote_ident, run_ddl

TABLES = ("witness_logs", "witness_log_keys")

_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.witness_logs (
    origin       text PRIMARY KEY,
    size         numeric(20, 0) NOT NULL CHECK (size >= 0),
    root_hash    bytea NOT NULL CHECK (length(root_hash) = 32),
    note         text,
    cosignature  text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {s}.witness_log_keys (
    origin  text NOT NULL REFERENCES {s}.witness_logs (origin) ON DELETE CASCADE,
    vkey    text NOT NULL,
    PRIMARY KEY (origin, vkey)
);
"""


class WitnessStateError(CertlifeError, code="witness-state"):
    """The witness's state changed under a request (a lost compare-and-swap): never cosign then."""


@dataclass(frozen=True)
class LogState:
    """What the witness knows of one log: its trusted keys and latest cosigned checkpoint."""

    origin: str
    vkeys: tuple[str, ...]
    size: int
    root_hash: bytes
    note: str | None = None
    cosignature: str | None = None


#: Decides under the row lock: given the stored state, return the (note, cosignature) to record.
Decision = Callable[[LogState], tuple[str, str]]


class WitnessStore:
    """asyncpg access to the witness's tables through a pool (or one connection) owned by the caller."""

    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection, schema: str) -> None:
        """Use ``pool`` and the tables in ``schema``."""
        self.pool = pool
        self.schema = schema
        self._s = quote_ident(schema)

    async def create(self) -> None:
        """Create the schema and tables if missing (no DDL at all when they exist)."""
        async with self._acquire() as conn:
            await run_ddl(
                conn,
                self.schema,
                _SCHEMA_SQL.format(s=self._s),
                unless_exist=[f"{self._s}.{t}" for t in TABLES],
            )

    def _acquire(self) -> Any:
        if isinstance(self.pool, asyncpg.Pool):
            return self.pool.acquire()
        return _Borrowed(self.pool)

    async def add_log(self, origin: str, vkeys: list[str]) -> bool:
        """Witness ``origin`` with the note keys ``vkeys`` (added to any it has); True if the log is new."""
        async with self._acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                f"INSERT INTO {self._s}.witness_logs (origin, size, root_hash) VALUES ($1, 0, $2) "
                "ON CONFLICT (origin) DO NOTHING RETURNING true",
                origin,
                EMPTY_ROOT,
            )
            await conn.executemany(
                f"INSERT INTO {self._s}.witness_log_keys (origin, vkey) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                [(origin, v) for v in vkeys],
            )
        return bool(inserted)

    async def logs(self) -> list[LogState]:
        """Every log witnessed, by origin."""
        async with self._acquire() as conn:
            rows = await conn.fetch(
                f"SELECT l.origin, l.size, l.root_hash, l.note, l.cosignature, "
                f"coalesce(array_agg(k.vkey ORDER BY k.vkey) FILTER (WHERE k.vkey IS NOT NULL), '{{}}') AS vkeys "
                f"FROM {self._s}.witness_logs l LEFT JOIN {self._s}.witness_log_keys k USING (origin) "
                "GROUP BY l.origin ORDER BY l.origin"
            )
        return [_state(row) for row in rows]

    async def log(self, origin: str) -> LogState | None:
        """The state of ``origin``, or None when it is not witnessed."""
        async with self._acquire() as conn:
            return await self._read(conn, origin, lock=False)

    async def _read(self, conn: asyncpg.Connection, origin: str, *, lock: bool) -> LogState | None:
        row = await conn.fetchrow(
            f"SELECT origin, size, root_hash, note, cosignature FROM {self._s}.witness_logs "
            f"WHERE origin = $1{' FOR UPDATE' if lock else ''}",
            origin,
        )
        if row is None:
            return None
        if lock:  # the decision under the lock needs the state only; the keys were checked before
            return _state({**row, "vkeys": []})
        keys = await conn.fetch(
            f"SELECT vkey FROM {self._s}.witness_log_keys WHERE origin = $1 ORDER BY vkey", origin
        )
        return _state({**row, "vkeys": [k["vkey"] for k in keys]})

    async def advance(self, origin: str, size: int, root_hash: bytes, decide: Decision) -> str:
        """Move ``origin`` to (``size``, ``root_hash``) if ``decide`` accepts its current state.

        ``decide`` runs under the row lock; it raises to refuse, or returns the note
        and the cosignature line to record. The update is a compare-and-swap on the
        state ``decide`` saw; the cosignature is returned only once it is committed.
        """
        async with self._acquire() as conn, conn.transaction():
            state = await self._read(conn, origin, lock=True)
            if state is None:
                raise WitnessStateError(f"log {origin!r} is not witnessed")
            note, cosignature = decide(state)
            updated = await conn.fetchval(
                f"UPDATE {self._s}.witness_logs SET size = $2, root_hash = $3, note = $4, cosignature = $5, "
                "updated_at = now() WHERE origin = $1 AND size = $6 AND root_hash = $7 RETURNING true",
                origin,
                Decimal(size),
                root_hash,
                note,
                cosignature,
                Decimal(state.size),
                state.root_hash,
            )
            if not updated:
                raise WitnessStateError(f"the state of {origin!r} changed under the request")
        return cosignature


class _Borrowed:
    """A single connection used like ``pool.acquire()``."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def __aenter__(self) -> asyncpg.Connection:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


def _state(row: Mapping[str, Any]) -> LogState:
    return LogState(
        origin=row["origin"],
        vkeys=tuple(row["vkeys"]),
        size=int(row["size"]),
        root_hash=bytes(row["root_hash"]),
        note=row["note"],
        cosignature=row["cosignature"],
    )
