"""The partner mirror reading C2SP tlog-tiles (``certverify mirror --tiles URL``) and resuming where it stopped.

:class:`TilesNotes` and :class:`TilesRecords` stand in for the mirror's two
Kafka topics: each round reads ``checkpoint``; a new note is a new
checkpoint for the verifier, and its tree's entry bundles from the mirror's
position on are the new records (a partly consumed bundle is fetched again,
once, as the new tree's full or partial bundle; hash tiles are authenticated
against the note's root as ``certverify log URL`` does).

So that a run fetches only what is new, the verifier's state at the last
applied checkpoint is kept in the mirror's schema (``mirror_tiles_resume``,
one row: size, the checkpoint note, leaf hashes, per-certificate chain
entries, record keys, the runs each key signed, a digest of the trust file),
written in the same transaction as the records it follows. The next run
restores it — only for the same trust file, and only at or below the applied
size — and checks the stored note again and that the stored leaf hashes give
its root; the new checkpoint must then extend that tree (the verifier's root
check over the old leaves plus the new entries). Without a usable row the
mirror starts from index 0, applying nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from certlife.contracts.trust import TrustedKey, TrustFile
from certlife.contracts.verification import LogVerifier, VerifierState
from certlife.contracts.verification.codes import ENTRY
from certlife.services.partner.inputs import SourceError
from certlife.services.partner.tiles_http import TileFetcher
from certlife.services.partner.tiles_source import TiledLog, checkpoint_of, read_checkpoint

log = logging.getLogger("certlife.mirror")

_RESUME_SQL = """
CREATE TABLE IF NOT EXISTS {s}.mirror_tiles_resume (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    size bigint NOT NULL, note text NOT NULL, trust_digest bytea NOT NULL, leaves bytea NOT NULL,
    chains bytea NOT NULL, state jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())
"""


class TilesNotes:
    """The ``checkpoint`` resource as a stream of notes: each round, the note if it changed."""

    def __init__(self, fetcher: TileFetcher, records: TilesRecords) -> None:
        """Read ``checkpoint`` through ``fetcher``; tell ``records`` about each new tree."""
        self.fetcher, self.records = fetcher, records
        self.note: str | None = None
        self._new: list[bytes] = []

    async def end(self) -> int:
        """Read the checkpoint; a changed note is new. Returns the tree size to read records to."""
        try:
            note = await read_checkpoint(self.fetcher)
        except SourceError as exc:
            if not self.records.waited_out(exc):
                raise
            return self.records.end
        self.records.reachable()
        if note != self.note:
            self.note = note
            self._new.append(note.encode())
            claimed = checkpoint_of(note)
            if claimed is not None:
                await self.records.follow(claimed.size, claimed.root_hash)
        return self.records.end

    async def fetch(self, end: int) -> list[bytes]:
        """The notes not handed over yet."""
        new, self._new = self._new, []
        return new


class TilesRecords:
    """The entries of the newest tree from the mirror's position on, read in chunks."""

    def __init__(self, fetcher: TileFetcher, start: int = 0) -> None:
        """Read entries from index ``start`` on."""
        self.fetcher = fetcher
        self.next = start
        self.end = start
        self._stream: AsyncIterator[tuple[int, bytes]] | None = None
        self._tree: tuple[int, bytes] | None = None
        self._current: tuple[int, bytes] | None = None
        #: Following: a server that cannot be read is waited out (logged), not an error.
        self.tolerant = False
        self._problem: str | None = None

    def waited_out(self, exc: SourceError) -> bool:
        """Whether ``exc`` is waited out (following); logs it when it is new."""
        if not self.tolerant:
            return False
        if str(exc) != self._problem:
            log.warning("tiles: %s; trying again", exc)
            self._problem = str(exc)
        return True

    def reachable(self) -> None:
        """The server answered again."""
        if self._problem is not None:
            log.warning("tiles: reachable again")
            self._problem = None

    async def follow(self, size: int, root: bytes) -> None:
        """Read the tree ``(size, root)`` from now on (a smaller one: nothing more to read).

        Its tiles are fetched at the next :meth:`take`, after the verifier has checked the note.
        """
        await self.close()
        self.end = max(size, self.next)  # a smaller tree is the verifier's rollback failure
        self._tree = self._current = (size, root) if size > self.next else None

    async def position(self) -> int:
        """The next index to read."""
        return self.next

    async def take(self, limit: int, end: int) -> list[bytes]:
        """Up to ``limit`` more entries below ``end`` (none once there)."""
        out: list[bytes] = []
        try:
            if self._tree is not None:
                tree, self._tree = TiledLog(self.fetcher, *self._tree), None
                await tree.start()
                self._stream = tree.entries(self.next)
            while self._stream is not None and self.next < end and len(out) < limit:
                index, entry = await anext(self._stream)
                assert index == self.next
                out.append(entry)
                self.next += 1
        except SourceError as exc:
            if not self.waited_out(exc):
                raise
            await self.close()
            self._tree = self._current  # from self.next on, next round
            return out
        self.reachable()
        return out

    async def close(self) -> None:
        """Stop the current tree's fetching."""
        stream, self._stream = self._stream, None
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _trust_digest(trust: TrustFile) -> bytes:
    return hashlib.sha256(json.dumps(trust.to_json(), sort_keys=True).encode()).digest()


class ResumeState:
    """The ``mirror_tiles_resume`` row of one schema: save and restore a verifier at a checkpoint.

    The row stores :meth:`LogVerifier.snapshot
    <certlife.contracts.verification.LogVerifier.snapshot>`'s state;
    ``test_mirror_tiles`` checks that a restored verifier goes on exactly as one
    that read everything.
    """

    def __init__(self, conn: asyncpg.Connection, schema: str, trust: TrustFile) -> None:
        """Use ``conn`` and the table in ``schema`` for a mirror of ``trust``."""
        self.conn, self.trust = conn, trust
        self._s = f'"{schema}"'
        self._digest = _trust_digest(trust)

    async def create(self) -> None:
        """Create the table if needed."""
        await self.conn.execute(_RESUME_SQL.format(s=self._s))

    def capture(self, verifier: LogVerifier, note: str) -> tuple[Any, ...]:
        """The row's values for ``verifier`` as it stands at the checkpoint ``note`` (of its size)."""
        snapshot = verifier.snapshot()
        chains = bytearray()
        for number, entry in snapshot.chains.items():
            name = number.encode()
            chains += len(name).to_bytes(2, "big") + name + entry
        keys = [k.to_json() for k in snapshot.keys]
        state = {"keys": keys, "runs": snapshot.runs, "lastTime": snapshot.last_time}
        return verifier.size, note, self._digest, snapshot.leaves, bytes(chains), json.dumps(state)

    async def write(self, captured: tuple[Any, ...]) -> None:
        """Store what :meth:`capture` returned (in the caller's transaction, if any)."""
        await self.conn.execute(
            f"INSERT INTO {self._s}.mirror_tiles_resume (size, note, trust_digest, leaves, chains, state) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (singleton) DO UPDATE SET size = $1, "
            "note = $2, trust_digest = $3, leaves = $4, chains = $5, state = $6::jsonb, updated_at = now()",
            *captured,
        )

    async def restore(self, verifier: LogVerifier, applied: int) -> int:
        """Bring a fresh ``verifier`` to the stored checkpoint if usable; return its size (0: none)."""
        row = await self.conn.fetchrow(f"SELECT * FROM {self._s}.mirror_tiles_resume")
        if row is None or row["trust_digest"] != self._digest or not 0 < row["size"] <= applied:
            return 0
        leaves, size, state = bytes(row["leaves"]), int(row["size"]), json.loads(row["state"])
        if len(leaves) != 32 * size:
            return 0
        chains: dict[str, bytes] = {}
        at, data = 0, bytes(row["chains"])
        while at < len(data):
            end = at + 2 + int.from_bytes(data[at : at + 2], "big")
            chains[data[at + 2 : end].decode()] = data[end : end + ENTRY.size]
            at = end + ENTRY.size
        keys = tuple(_key(key) for key in state["keys"])
        runs = {k: [list(run) for run in key_runs] for k, key_runs in state["runs"].items()}
        verifier.restore(VerifierState(leaves, chains, keys, runs, state["lastTime"]))
        verifier.add_checkpoints([(size, row["note"])])  # signature again; stored leaves give its root
        return size


def _key(data: dict[str, Any]) -> TrustedKey:
    import base64

    return TrustedKey(
        data["keyId"],
        base64.b64decode(data["publicKey"]),
        data["validFromIndex"],
        data["validUntilIndex"],
        data["compromisedFromIndex"],
    )
