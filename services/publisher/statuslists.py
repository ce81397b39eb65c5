"""Status list production: after each checkpoint, the lists of the log as of that size, committed to the log.

When the key passphrase is set, the publisher follows the records it writes
into the tiles with :class:`~certlife.contracts.credentials.listindex.StatusBits`
(the one rule for list indexes and bits) and with the credential keys the log
announces. After each checkpoint ``N`` it publishes, if the credential key in
force at index ``N - 1`` is in CERTLIFE_KEYS_DIR and the bits (or the list size,
or that key) changed since the last list it produced, it builds both status list
credentials as of ``N`` (``validFrom``: the ``recordedAt`` of record ``N - 1``),
writes each to ``<tiles>/statuslists/<purpose>.<N>`` and queues a ``statuslist``
request for the relay (``relay_key_requests``). Once the log holds the
``statuslist`` record committing a list, the list is copied to
``<tiles>/statuslists/<purpose>``: the latest list served is always one the log
committed (contracts/LOG.md §4.4). A list that could not be queued is built again
after the next checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from certlife.contracts.credentials.bitstring import list_size, set_indexes
from certlife.contracts.credentials.ids import PURPOSES, status_list_id
from certlife.contracts.credentials.listindex import StatusBits
from certlife.contracts.credentials.statuslist import build_status_list, parse_status_list
from certlife.contracts.errors import ContractError
from certlife.contracts.records import Record, RecordSigner, parse_record
from certlife.contracts.tiles import TILE_HEIGHT, TILE_WIDTH, decode_entries, entries_path
from certlife.contracts.trusted_keys import CredentialKeyRing
from certlife.contracts.verification.plain import recognise
from certlife.domain.errors import CertlifeError
from certlife.services.infra.fileio import write_file_atomic
from certlife.services.relay.keystore import KeyStore
from certlife.services.relay.store import KeyRequest

log = logging.getLogger("certlife.publisher")

#: The folder of the tiles directory holding the status lists.
STATUSLISTS_DIR = "statuslists"
#: What a produced list is compared on: its size, its set bits, the key that signed it.
_ListState = tuple[int, frozenset[int], str]
#: The last list produced of a purpose: the log size it reflects, and its state.
_Produced = tuple[int, _ListState]


@dataclass(frozen=True, slots=True)
class _Plain:
    """What the list rule reads of a plain certificate record, recognised on its bytes."""

    index: int
    kind: str
    event: str
    status: str
    number: str
    recorded_at: str


def _read(raw: bytes, origin: str) -> Record | _Plain:
    """The record, the common case without parsing JSON (``plain.recognise``: about 4x faster)."""
    found = recognise(raw, {}, False, origin)
    if found is None:
        return parse_record(raw)
    number, _, event, index, _, _, at, _, _, status, _ = found
    return _Plain(int(index), "certificate", event.decode(), status.decode(), number.decode(), at.decode())


def tile_entries(directory: Path, size: int) -> Iterator[bytes]:
    """The first ``size`` entries of the tiles in ``directory`` (what the tile writer holds), in order."""
    for bundle in range((size + TILE_WIDTH - 1) >> TILE_HEIGHT):
        width = min(TILE_WIDTH, size - (bundle << TILE_HEIGHT))
        path = directory / entries_path(bundle, width)
        if not path.exists():  # a full bundle written past the partial one
            path = directory / entries_path(bundle)
        yield from decode_entries(path.read_bytes())[:width]


class ListProducer:
    """Builds, writes and queues the status lists of one log; see the module docstring."""

    def __init__(
        self, origin: str, directory: Path, keystore: KeyStore, queue: Callable[[KeyRequest], Awaitable[None]]
    ) -> None:
        """``directory`` is the tiles directory; ``queue`` inserts a request for the relay."""
        self.origin, self.keystore, self._queue = origin, keystore, queue
        self.folder = directory / STATUSLISTS_DIR
        self.bits = StatusBits()
        self.keys = CredentialKeyRing()
        self._last_time = ""
        self._produced: dict[str, _Produced] = {}
        self._signers: dict[str, RecordSigner] = {}
        self._missing: set[str] = set()  # credential keys in force we warned about
        self._stopped = False  # a record the list rule cannot take: no more lists from this process

    def follow(self, records: Iterable[bytes]) -> None:
        """Take the next records of the log, in index order (as the tiles receive them)."""
        for raw in records:
            if self._stopped:
                return
            try:
                record = _read(raw, self.origin)
                self.bits.apply(record)
            except (ContractError, ValueError) as exc:  # a log no verifier accepts: never list it
                self._stopped = True
                log.error("status lists stopped at log size %d: %s", self.bits.log_size, exc)
                return
            self._last_time = record.recorded_at
            if type(record) is _Plain:
                continue
            assert isinstance(record, Record)
            try:
                self._keys(record)
            except ContractError as exc:  # the log's verifiers report it; lists stop being signed
                log.warning("status lists: record %d not followed: %s", record.index, exc)
            if record.kind == "statuslist":
                self._on_commitment(record)

    def _keys(self, record: Record) -> None:
        kid, public = record.new_key_id, record.new_key_public
        if record.action == "credential-key" and kid is not None and public is not None:
            self.keys.announce(kid, public, record.index)
        elif record.action == "compromise" and record.subject_key_id in self.keys:
            self.keys.compromise(record.subject_key_id, record.compromised_from_index)

    def _on_commitment(self, record: Record) -> None:
        purpose, digest, size = record.purpose, record.list_sha256, record.log_size
        path = self.folder / f"{purpose}.{size}"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return  # committed by another publisher, or before this directory existed
        if hashlib.sha256(raw).hexdigest() != digest:
            return
        latest = self.folder / purpose
        if not latest.exists() or latest.read_bytes() != raw:
            write_file_atomic(latest, raw)
            log.info("status list %s of log size %d committed by record %d", purpose, size, record.index)
        if self._produced.get(purpose, (-1,))[0] < size:  # after a restart: the newest committed list
            try:
                parsed = parse_status_list(raw)
            except ContractError:
                return
            state = (len(parsed.bits) * 8, frozenset(set_indexes(parsed.bits)), parsed.key_id)
            self._produced[purpose] = (size, state)

    async def after_checkpoint(self, size: int) -> None:
        """The tiles published checkpoint ``size``: produce and queue the lists that changed."""
        if self._stopped or size != self.bits.log_size or size == 0:
            return
        key = self.keys.in_force(size - 1)
        if key is None:
            return
        signer = self._signer(key.key_id)
        if signer is None:
            return
        entries = list_size(self.bits.count)
        for purpose in PURPOSES:
            set_bits = self.bits.set_bits(purpose)
            state = (entries, frozenset(set_bits), key.key_id)
            if self._produced.get(purpose, (0, None))[1] == state:
                continue
            raw = build_status_list(self.origin, purpose, set_bits, entries, size, self._last_time, signer)
            digest = hashlib.sha256(raw).hexdigest()
            self.folder.mkdir(parents=True, exist_ok=True)
            write_file_atomic(self.folder / f"{purpose}.{size}", raw)
            request = KeyRequest(
                0, "statuslist", None, None, None, None,
                purpose=purpose, list_id=status_list_id(self.origin, purpose), log_size=size, sha256=digest,
            )  # fmt: skip
            try:
                await self._queue(request)
            except (OSError, CertlifeError) as exc:
                log.warning(
                    "status list %s of log size %d not queued (next checkpoint): %s", purpose, size, exc
                )
                continue
            self._produced[purpose] = (size, state)
            log.info(
                "status list %s of log size %d queued for the log (%d bits set)", purpose, size, len(set_bits)
            )

    def _signer(self, kid: str) -> RecordSigner | None:
        signer = self._signers.get(kid)
        if signer is None and self.keystore.credential_key_path(kid).exists():
            signer = self._signers[kid] = RecordSigner(self.keystore.credential_key(kid))
        if signer is None and kid not in self._missing:
            self._missing.add(kid)
            log.warning(
                "status lists: credential key %s is in force but not in %s", kid, self.keystore.directory
            )
        return signer


class QueueError(CertlifeError, code="statuslist-queue"):
    """A status list commitment could not be queued for the relay (PostgreSQL unreachable or refusing)."""


def relay_queue(database_url: str, schema: str) -> Callable[[KeyRequest], Awaitable[None]]:
    """Insert a request into ``relay_key_requests`` of ``schema`` (the relay's role may: INSERT, sequence USAGE)."""

    async def queue(request: KeyRequest) -> None:
        import asyncpg

        from certlife.services.relay.store import RelayStore

        try:
            conn = await asyncpg.connect(database_url, timeout=10)
            try:
                await RelayStore(conn, schema).request_key_transition(request)
            finally:
                await conn.close()
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            raise QueueError(f"cannot queue the status list for the relay: {exc}") from None

    return queue
