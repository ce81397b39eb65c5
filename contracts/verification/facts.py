"""Per-record work that needs no log state: parse, canonical check, signature, hashes.

This is the part of log verification that runs in parallel (one chunk of
input lines per task): it returns compact :class:`RecordFacts`, and the
sequential checks (index, chain, transitions, keys in force, Merkle tree)
run on those facts in one place, in order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from contracts.errors import ContractError, SignatureError
from contracts.keys import verify_ed25519
from contracts.merkle import leaf_hash
from contracts.records import SIGNING_PREFIX, Record, parse_record, verify_record_signature

#: ``keyId -> raw public key`` of every key that may have signed a record.
KeyDirectory = Mapping[str, bytes]
#: One unit of parallel work: (position, bytes) lines, key directory, check all signatures.
Chunk = tuple[Sequence[tuple[int, bytes]], KeyDirectory, bool]

_PARSE_CODES = frozenset({"not-json", "not-canonical", "record-format"})
_ROTATION_MARK = b'"newKey"'
_SIG_MEMBER = b',"sig":"'


class RecordFacts(NamedTuple):
    """What the sequential checks need to know about one input record.

    ``error`` is ``(code, message)`` when the bytes are not a well-formed
    canonical record (then only ``position`` is meaningful). ``sig_ok`` is
    True or False when the signature was checked under the directory's key
    for ``key_id``, and None when it was not checked. ``leaf`` is the Merkle
    leaf hash, ``digest`` the SHA-256 of the bytes (what the next record of
    the certificate names as ``prev``). ``raw`` is kept for key records only.
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
    """The signing input of a certificate record, cut out of its canonical bytes.

    JCS writes members in sorted order separated by commas, ``sig`` is never
    the first member of a record, and no nested object has a ``sig`` member;
    an unescaped ``,"sig":"`` cannot occur inside a string. So removing the
    first ``,"sig":"…"`` of canonical bytes gives JCS of the record without
    ``sig`` — checked against the parsed value, else encoded the slow way.
    """
    raw = record.raw
    start = raw.find(_SIG_MEMBER)
    end = raw.find(b'"', start + len(_SIG_MEMBER))
    if start < 0 or raw[start + len(_SIG_MEMBER) : end] != record.data["sig"].encode("ascii"):
        return record.signed_bytes()
    return SIGNING_PREFIX + raw[:start] + raw[end + 1 :]


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
    """Parse one record and return its facts; key records always get their signature checked.

    ``keys`` maps each keyId to the public key with that id (trust-file keys
    and keys announced by rotation records: both checked id against key).
    """
    try:
        record = parse_record(raw)
    except ContractError as exc:
        code = exc.code if exc.code in _PARSE_CODES else "record-format"
        return RecordFacts(position, (code, str(exc)))
    is_key = record.kind == "key"
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
        raw if is_key else None,
    )


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
