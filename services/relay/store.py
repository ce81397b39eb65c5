"""The relay's PostgreSQL side: chain heads, a cached position, key history, the lock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import asyncpg

from certlife.domain.errors import CertlifeError
from certlife.projections.ddl import quote_ident, run_ddl
from certlife.services.relay.state import RelayState

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS {s}.relay_heads (
    number text PRIMARY KEY, seq integer NOT NULL, record_hash text NOT NULL,
    log_index bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.relay_position (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    tree_size bigint NOT NULL, state bytea NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.relay_keys (
    key_id text PRIMARY KEY, public_key bytea NOT NULL, valid_from_index bigint NOT NULL,
    valid_until_index bigint, compromised_from_index bigint);
CREATE TABLE IF NOT EXISTS {s}.relay_key_requests (
    id bigserial PRIMARY KEY, action text NOT NULL CHECK (action IN ('rotate', 'compromise')),
    new_key_id text, subject_key_id text, compromised_from_index bigint, reason text,
    requested_at timestamptz NOT NULL DEFAULT now(), done_at_index bigint);
CREATE TABLE IF NOT EXISTS {s}.relay_credential_keys (
    key_id text PRIMARY KEY, public_key bytea NOT NULL, valid_from_index bigint NOT NULL,
    valid_until_index bigint, compromised_from_index bigint);
ALTER TABLE {s}.relay_key_requests ADD COLUMN IF NOT EXISTS public_key bytea,
    ADD COLUMN IF NOT EXISTS purpose text, ADD COLUMN IF NOT EXISTS list_id text,
    ADD COLUMN IF NOT EXISTS log_size bigint, ADD COLUMN IF NOT EXISTS sha256 text;
ALTER TABLE {s}.relay_key_requests DROP CONSTRAINT IF EXISTS relay_key_requests_action_check;
ALTER TABLE {s}.relay_key_requests ADD CONSTRAINT relay_key_requests_action_check
    CHECK (action IN ('rotate', 'compromise', 'credential-key', 'statuslist'));
"""

#: The relay's tables (``_SCHEMA_SQL``). A database made before ``relay_credential_keys``
#: existed gets it, the request columns and the widened action check on the next
#: ``create`` by a role that owns the tables (``certctl db migrate``).
RELAY_TABLES = (
    "relay_heads", "relay_position", "relay_keys", "relay_key_requests", "relay_credential_keys",
)  # fmt: skip
#: One row of key history: keyId, raw public key, validFromIndex, validUntilIndex, compromisedFromIndex.
KeyRow = tuple[str, bytes, int, int | None, int | None]
#: The trigger on the events table that wakes the relay.
NOTIFY_TRIGGER = "certlife_notify"

_NOTIFY_SQL = """
CREATE OR REPLACE FUNCTION {s}.certlife_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END $$;
DROP TRIGGER IF EXISTS certlife_notify ON {s}.{table};
CREATE TRIGGER certlife_notify AFTER INSERT ON {s}.{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.certlife_notify_events();
"""


class RelaySchemaOutdated(CertlifeError, code="relay-schema-outdated"):
    """The relay's tables need DDL this role may not run (``certctl db migrate`` does)."""


class Head(NamedTuple):
    """The last record of one certificate: its seq, hash and log index.

    A named tuple: the relay makes one per record it builds and passes them to its
    builder processes (a frozen dataclass took 2.2 us to make and more to pickle).
    """

    seq: int
    record_hash: str
    log_index: int


@dataclass(frozen=True)
class KeyRequest:
    """A pending request for a record the relay writes: a key transition or a status list commitment.

    ``rotate``: ``new_key_id``; ``compromise``: ``subject_key_id``, ``compromised_from_index``;
    ``credential-key``: ``new_key_id``, ``public_key``; ``statuslist``: ``purpose``,
    ``list_id``, ``log_size``, ``sha256``.
    """

    id: int
    action: str
    new_key_id: str | None
    subject_key_id: str | None
    compromised_from_index: int | None
    reason: str | None
    public_key: bytes | None = None
    purpose: str | None = None
    list_id: str | None = None
    log_size: int | None = None
    sha256: str | None = None


class RelayStore:
    """asyncpg access to the relay's tables in the event store's schema."""

    def __init__(self, conn: asyncpg.Connection, schema: str) -> None:
        """Use ``conn`` (owned by the caller) and tables in ``schema``."""
        self.conn = conn
        self.schema = schema
        self._s = quote_ident(schema)

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel woken by inserts into the events table."""
        return f"certlife_events_{self.schema}"[:63]

    async def create(self) -> None:
        """Create the relay's tables if they are missing (no DDL at all when they all exist).

        A role that may not create or alter them (the relay's, in a deployment) gets
        :class:`RelaySchemaOutdated` when they are missing or older than this code.
        """
        try:
            await run_ddl(
                self.conn,
                self.schema,
                _SCHEMA_SQL.format(s=self._s),
                unless_exist=[f"{self._s}.{name}" for name in RELAY_TABLES],
            )
        except asyncpg.InsufficientPrivilegeError:
            raise RelaySchemaOutdated(
                f"the relay's tables in schema {self.schema} are missing or older than this version, and "
                "this role may not create or alter them: run `certctl db migrate` as the schema owner"
            ) from None

    async def notify_installed(self, events_table: str) -> bool:
        """True when the trigger that notifies ``channel`` is on ``events_table``."""
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)",
                f"{self._s}.{quote_ident(events_table)}",
                NOTIFY_TRIGGER,
            )
        )

    async def install_notify(self, events_table: str, *, replace: bool = False) -> None:
        """Make every insert into ``events_table`` notify ``channel`` (idempotent).

        An installed trigger is left alone (the relay's role may not own the
        events table) unless ``replace`` (migrations) re-creates it.
        """
        if not replace and await self.notify_installed(events_table):
            return
        channel = self.channel.replace("'", "''")
        sql = _NOTIFY_SQL.format(s=self._s, table=quote_ident(events_table), channel=channel)
        await run_ddl(self.conn, self.schema, sql)

    async def position(self) -> RelayState | None:
        """The cached state after the last batch applied here, if any."""
        row = await self.conn.fetchrow(f"SELECT state FROM {self._s}.relay_position")
        return None if row is None else RelayState.from_bytes(bytes(row["state"]))

    async def heads(self, numbers: Iterable[str]) -> dict[str, Head]:
        """Chain heads of the given certificates (by number: unique within one log)."""
        rows = await self.conn.fetch(
            f"SELECT number, seq, record_hash, log_index FROM {self._s}.relay_heads "
            "WHERE number = ANY($1::text[])",
            list(set(numbers)),
        )
        return {r["number"]: Head(r["seq"], r["record_hash"], r["log_index"]) for r in rows}

    async def apply(self, heads: dict[str, Head], state: RelayState) -> None:
        """Store new heads and the position in one transaction (after the Kafka commit)."""
        async with self.conn.transaction():
            await self.apply_heads(heads)
            await self.conn.execute(
                f"INSERT INTO {self._s}.relay_position VALUES (true, $1, $2) "
                "ON CONFLICT (singleton) DO UPDATE SET tree_size = EXCLUDED.tree_size, "
                "state = EXCLUDED.state",
                state.tree_size,
                state.to_bytes(),
            )

    async def apply_heads(self, heads: dict[str, Head]) -> None:
        """Upsert chain heads; an older head never replaces a newer one."""
        if heads:  # one statement for the whole batch (one number per row: the keys are unique)
            await self.conn.execute(
                f"INSERT INTO {self._s}.relay_heads AS h "
                "SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::bigint[]) "
                "ON CONFLICT (number) DO UPDATE SET seq = EXCLUDED.seq, "
                "record_hash = EXCLUDED.record_hash, log_index = EXCLUDED.log_index "
                "WHERE h.log_index < EXCLUDED.log_index",
                list(heads),
                [h.seq for h in heads.values()],
                [h.record_hash for h in heads.values()],
                [h.log_index for h in heads.values()],
            )

    async def pending_key_requests(self) -> list[KeyRequest]:
        """Key transitions requested by operators and not yet in the log."""
        rows = await self.conn.fetch(
            f"SELECT id, action, new_key_id, subject_key_id, compromised_from_index, reason, public_key, "
            f"purpose, list_id, log_size, sha256 "
            f"FROM {self._s}.relay_key_requests WHERE done_at_index IS NULL ORDER BY id"
        )
        return [KeyRequest(**dict(r)) for r in rows]

    async def request_key_transition(self, request: KeyRequest) -> int:
        """Queue a key transition for the relay to write into the log."""
        return int(
            await self.conn.fetchval(
                f"INSERT INTO {self._s}.relay_key_requests (action, new_key_id, subject_key_id, "
                "compromised_from_index, reason, public_key, purpose, list_id, log_size, sha256) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                request.action,
                request.new_key_id,
                request.subject_key_id,
                request.compromised_from_index,
                request.reason,
                request.public_key,
                request.purpose,
                request.list_id,
                request.log_size,
                request.sha256,
            )
        )

    async def record_key_history(
        self,
        done: Sequence[tuple[int, int]],
        keys: Sequence[KeyRow],
        credential_keys: Sequence[KeyRow] = (),
    ) -> None:
        """Mark requests done at a log index (-1: refused) and upsert the key ranges they produced."""
        async with self.conn.transaction():
            await self.conn.executemany(
                f"UPDATE {self._s}.relay_key_requests SET done_at_index = $2 WHERE id = $1", done
            )
            for table, rows in (("relay_keys", keys), ("relay_credential_keys", credential_keys)):
                await self.conn.executemany(
                    f"INSERT INTO {self._s}.{table} VALUES ($1, $2, $3, $4, $5) "
                    "ON CONFLICT (key_id) DO UPDATE SET valid_until_index = EXCLUDED.valid_until_index, "
                    "compromised_from_index = EXCLUDED.compromised_from_index",
                    rows,
                )

    async def key_history(self) -> list[KeyRow]:
        """Every record key the log has used, with its index ranges."""
        return await self._history("relay_keys")

    async def credential_key_history(self) -> list[KeyRow]:
        """Every credential key the log has announced, with its index ranges."""
        return await self._history("relay_credential_keys")

    async def _history(self, table: str) -> list[KeyRow]:
        rows = await self.conn.fetch(
            f"SELECT key_id, public_key, valid_from_index, valid_until_index, compromised_from_index "
            f"FROM {self._s}.{table} ORDER BY valid_from_index"
        )
        return [(r[0], bytes(r[1]), r[2], r[3], r[4]) for r in rows]
