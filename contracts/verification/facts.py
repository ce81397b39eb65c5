"""Per-record work that needs no log state: parse, canonical check, signature, hashes.

This is the part of log verification that runs in parallel (one chunk of
input lines per task): it returns :class:`FastRun` runs of plain records
(recognised on their bytes by :mod:`certlife.contracts.verification.plain`)
and :class:`RecordFacts` for every other record, and the sequential checks
(index, chain, transitions, keys in force, Merkle tree) run on those facts
in one place, in order.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, cast

from certlife.contracts.errors import ContractError, SignatureError
from certlife.contracts.keys import opens, verify_ed25519
from certlife.contracts.merkle import leaf_hash
from certlife.contracts.records import Record, parse_record, verify_record_signature
from certlife.contracts.verification.codes import EVENT_CODES, EVENT_NAMES, ROW, STATUS_CODES, STATUS_NAMES
from certlife.contracts.verification.plain import (
    SIG_MEMBER,
    CompactFacts,
    Recognised,
    compact_facts,
    pending_recogniser,
    recogniser,
    signing_input_around,
)

#: ``keyId -> raw public key`` of every key that may have signed a record.
KeyDirectory = Mapping[str, bytes]
#: One unit of parallel work: (position, bytes) lines, key directory, check all signatures.
Chunk = tuple[Sequence[tuple[int, bytes]], KeyDirectory, bool]

#: What ``batch_for_chunk`` works on: a chunk plus the trusted origin.
BatchChunk = tuple[Iterable[tuple[int, bytes]], KeyDirectory, bool, str]
_PARSE_CODES = frozenset({"not-json", "not-canonical", "record-format"})
_ROTATION_MARK = b'"newKey"'
_NO_PREV = bytes(32)
_STATUS_BYTES = {name.encode("ascii"): code for name, code in STATUS_CODES.items()}
_EVENT_BYTES = {name.encode("ascii"): code << 4 for name, code in EVENT_CODES.items()}

__all__ = [
    "BatchChunk",
    "Chunk",
    "CompactFacts",
    "Facts",
    "FastRun",
    "KeyDirectory",
    "RecordFacts",
    "announced_key",
    "batch_for_chunk",
    "compact_facts",
    "facts_for_chunk",
    "group_runs",
    "record_facts",
    "runs_for_chunk",
]  # fmt: skip


class RecordFacts(NamedTuple):
    """What the sequential checks need to know about one input record.

    ``error`` is ``(code, message)`` when the bytes are not a well-formed
    canonical record (then only ``position`` is meaningful). ``sig_ok`` is
    True or False when the signature was checked under the directory's key
    for ``key_id``, and None when it was not checked. ``leaf`` is the Merkle
    leaf hash, ``digest`` the SHA-256 of the bytes (what the next record of
    the certificate names as ``prev``). ``raw`` is kept for key records and
    for records whose signature was to be checked but whose key the
    directory did not hold (the verifier checks them again once it knows it).
    """

    position: int
    error: tuple[str, str] | None
    log_index: int = -1
    kind: str = ""
    origin: str = ""
    key_id: str = ""
    sig_ok: bool | None = None
    number: str | None = None
    event: str | None = None
    status: str | None = None
    seq: int = 0
    prev: bytes | None = None
    recorded_at: str = ""
    effective_at: str | None = None
    leaf: bytes = b""
    digest: bytes = b""
    raw: bytes | None = None


def _signing_input(record: Record) -> bytes:
    """The signing input of a certificate record, cut out of its canonical bytes
    (:func:`~.plain.signing_input_around`).

    No nested object has a ``sig`` member and an unescaped ``,"sig":"`` cannot
    occur inside a string, so the first one is the record's own ``sig`` member
    (checked against the parsed value, else encoded the slow way).
    """
    raw = record.raw
    member = raw.find(SIG_MEMBER)
    start = member + len(SIG_MEMBER)
    end = raw.find(b'"', start)
    if member < 0 or raw[start:end] != record.data["sig"].encode("ascii"):
        return record.signed_bytes()
    return signing_input_around(raw, start, end)


def _signature_ok(record: Record, keys: KeyDirectory) -> bool | None:
    # The directory only holds keys whose keyId was checked against the key itself.
    public = keys.get(record.key_id)
    if public is None:
        return None
    if record.kind == "certificate":
        return verify_ed25519(public, record.sig, _signing_input(record))
    try:
        verify_record_signature(record, public)  # also checks a rotation's newKeySig
    except SignatureError:
        return False
    return True


def record_facts(position: int, raw: bytes, keys: KeyDirectory, check_signature: bool) -> RecordFacts:
    """Parse one record and return its facts; key and statuslist records always get their signature checked.

    ``keys`` maps each keyId to the public key with that id (trust-file keys
    and keys announced by rotation records: both checked id against key).
    """
    try:
        record = parse_record(raw)
    except ContractError as exc:
        code = exc.code if exc.code in _PARSE_CODES else "record-format"
        return RecordFacts(position, (code, str(exc)))
    is_key = record.kind != "certificate"  # key and statuslist records: checked in any mode, bytes kept
    sig_ok = _signature_ok(record, keys) if check_signature or is_key else None
    prev = record.prev
    return RecordFacts(
        position,
        None,
        record.index,
        record.kind,
        record.origin,
        record.key_id,
        sig_ok,
        record.number,
        record.event,
        record.status,
        record.seq or 0,
        None if prev is None else bytes.fromhex(prev),
        record.recorded_at,
        record.effective_at,
        leaf_hash(raw),
        hashlib.sha256(raw).digest(),
        raw if is_key or (sig_ok is None and check_signature) else None,
    )


class FastRun(NamedTuple):
    """Consecutive plain certificate records of the trusted origin (see :mod:`.plain`).

    Their input positions and log indexes count up by one from ``position``
    and ``log_index``; one key signed them all, and ``sig_ok`` is True for all
    (signatures checked) or None for all (not checked). Per record, in order:
    ``numbers``, ``recorded`` and ``effective`` hold the certificate number,
    ``recordedAt`` and ``effectiveAt`` (``\\n``-separated: none of them can
    hold a control character), and ``rows`` one :data:`~.codes.ROW` each.
    Compact to pickle: a few strings and one bytes object per run.
    """

    position: int
    log_index: int
    key_id: str
    sig_ok: bool | None
    numbers: str
    recorded: str
    effective: str
    rows: bytes

    @property
    def size(self) -> int:
        """Number of records in the run."""
        return len(self.rows) // ROW.size

    def facts(self, t: int, origin: str) -> RecordFacts:
        """The :class:`RecordFacts` of the run's record ``t`` (a record of ``origin``)."""
        prev, _, digest, seq, code, event_status, leaf = ROW.unpack_from(self.rows, t * ROW.size)
        return RecordFacts(
            self.position + t, None, self.log_index + t, "certificate", origin, self.key_id, self.sig_ok,
            _nth(self.numbers, t), EVENT_NAMES[event_status >> 4], STATUS_NAMES[code], seq,
            None if seq == 1 else prev, _nth(self.recorded, t), _nth(self.effective, t), leaf, digest, None,
        )  # fmt: skip


#: What the sequential checks take: full facts, a plain record's compact facts, or a run of them.
Facts = RecordFacts | CompactFacts | FastRun


def _nth(text: str, t: int) -> str:
    return text.split("\n", t + 1)[t]


class _Runs:
    """The facts of a chunk in order, consecutive plain records packed into :class:`FastRun` runs.

    A record joins the open run while positions and indexes count up by one
    and the keyId and ``sig_ok`` stay the same. Text parts may be ``str`` or
    (UTF-8) ``bytes``, the same kind within a chunk.
    """

    __slots__ = ("effective", "first", "follows", "numbers", "out", "recorded", "rows")

    def __init__(self) -> None:
        self.out: list[RecordFacts | FastRun] = []
        self.numbers: list[Any] = []
        self.recorded: list[Any] = []
        self.effective: list[Any] = []
        self.rows: list[bytes] = []
        self.first: tuple[int, int, Any, bool | None] = (0, 0, "", None)
        self.follows: tuple[int, int, Any, bool | None] | None = None

    def add(
        self,
        position: int,
        index: int,
        key: Any,
        sig_ok: bool | None,
        number: Any,
        at: Any,
        effective: Any,
        row: bytes,
    ) -> None:
        """Append one plain record (``row`` packed as :data:`~.codes.ROW`)."""
        if (position, index, key, sig_ok) != self.follows:
            self._flush()
            self.first = (position, index, key, sig_ok)
        self.follows = (position + 1, index + 1, key, sig_ok)
        self.numbers.append(number)
        self.recorded.append(at)
        self.effective.append(effective)
        self.rows.append(row)

    def other(self, facts: RecordFacts | FastRun) -> None:
        """Append facts that are not a plain record's (they end the open run)."""
        self._flush()
        self.follows = None
        self.out.append(facts)

    def done(self) -> list[RecordFacts | FastRun]:
        """The facts, in order."""
        self._flush()
        return self.out

    def _flush(self) -> None:
        if self.rows:
            position, index, key, sig_ok = self.first
            self.out.append(
                FastRun(
                    position,
                    index,
                    _text([key]),
                    sig_ok,
                    _text(self.numbers),
                    _text(self.recorded),
                    _text(self.effective),
                    b"".join(self.rows),
                )
            )
            self.numbers, self.recorded, self.effective, self.rows = [], [], [], []


def _text(parts: list[Any]) -> str:
    return "\n".join(parts) if type(parts[0]) is str else b"\n".join(parts).decode("utf-8")


def group_runs(items: Iterable[Facts]) -> list[RecordFacts | FastRun]:
    """Pack consecutive compact facts into runs; RecordFacts and runs pass through, in order."""
    runs, pack, codes, event_codes = _Runs(), ROW.pack, STATUS_CODES, EVENT_CODES
    for item in items:
        if type(item) is not tuple:
            runs.other(cast(RecordFacts | FastRun, item))
            continue
        position, index, key_id, sig_ok, number, event, status, seq, prev, at, effective, leaf, digest = cast(
            CompactFacts, item
        )
        code = codes[status]
        row = pack(prev or _NO_PREV, seq - 1, digest, seq, code, event_codes[event] << 4 | code, leaf)
        runs.add(position, index, key_id, sig_ok, number, at, effective, row)
    return runs.done()


def runs_for_chunk(chunk: BatchChunk) -> list[RecordFacts | FastRun]:
    """Facts of the lines of a chunk, plain records packed into runs (what workers send back).

    The same facts as ``group_runs(batch_for_chunk(chunk))``, without the
    per-record tuples: plain records (:func:`~.plain.recognise`) go straight
    into rows (a run of records whose signature does not verify is checked
    one by one, and fails), any other record gets :func:`record_facts`.
    """
    lines, keys, check_signatures, origin = chunk
    runs, pack, sha256 = _Runs(), ROW.pack, hashlib.sha256
    codes, event_codes, a2b_hex = _STATUS_BYTES, _EVENT_BYTES, binascii.a2b_hex
    add = runs.add
    for position, raw, found in _recognised(lines, keys, check_signatures, origin):
        if found is None:
            runs.other(record_facts(position, raw, keys, check_signatures))
            continue
        number, effective, event, index, key, prev, at, seq_text, _, status, sig_ok = found
        seq, code = int(seq_text), codes[status]
        row = pack(
            _NO_PREV if prev is None else a2b_hex(prev), seq - 1, sha256(raw).digest(), seq, code,
            event_codes[event] | code, leaf_hash(raw),
        )  # fmt: skip
        add(position, int(index), key, sig_ok, number, at, effective, row)
    return runs.done()


def _recognised(
    lines: Iterable[tuple[int, bytes]], keys: KeyDirectory, check_signatures: bool, origin: str
) -> Iterator[tuple[int, bytes, Recognised | None]]:
    """``(position, bytes, what the recogniser found or None)`` of each line. With
    ``check_signatures`` all lines are recognised first, then all the signatures of the
    plain records are opened in one loop (:func:`~.plain.pending_recogniser` says why)."""
    if not check_signatures:
        recognise_bytes = recogniser(keys, False, origin)
        for position, raw in lines:
            yield position, raw, recognise_bytes(raw)
        return
    pending_bytes = pending_recogniser(keys, origin)
    pending = [(position, raw, pending_bytes(raw)) for position, raw in lines]
    verdicts = iter([opens(found[10], found[11]) for _, _, found in pending if found is not None])
    for position, raw, found in pending:
        yield position, raw, None if found is None else (*found[:10], next(verdicts))


def batch_for_chunk(chunk: BatchChunk) -> list[RecordFacts | CompactFacts]:
    """Facts of every line of a chunk, one per line: compact tuples for plain records, RecordFacts otherwise."""
    lines, keys, check_signatures, origin = chunk
    out: list[RecordFacts | CompactFacts] = []
    append = out.append
    for position, raw in lines:
        item = compact_facts(position, raw, keys, check_signatures, origin)
        append(record_facts(position, raw, keys, check_signatures) if item is None else item)
    return out


def facts_for_chunk(chunk: Chunk) -> list[RecordFacts]:
    """Return the facts of every line of a chunk (the function parallel workers run)."""
    lines, keys, check_signatures = chunk
    return [record_facts(position, raw, keys, check_signatures) for position, raw in lines]


def announced_key(raw: bytes) -> tuple[str, bytes] | None:
    """Return ``(keyId, public key)`` if ``raw`` is a well-formed rotation record.

    Used before dispatching work so that records signed by a key introduced
    earlier in the log can be checked in parallel; whether the rotation is
    trusted is decided later, in order, by the key ring.
    """
    if _ROTATION_MARK not in raw:
        return None
    try:
        record = parse_record(raw)
    except ContractError:
        return None
    new_id, new_public = record.new_key_id, record.new_key_public
    if record.action != "rotate" or new_id is None or new_public is None:
        return None
    return new_id, new_public
