"""Per-record work that needs no log state: parse, canonical check, signature, hashes.

This is the part of log verification that runs in parallel (one chunk of
input lines per task): it returns compact :class:`RecordFacts`, and the
sequential checks (index, chain, transitions, keys in force, Merkle tree)
run on those facts in one place, in order.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import orjson
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from certlife.contracts.errors import ContractError, SignatureError
from certlife.contracts.keys import verify_ed25519
from certlife.contracts.merkle import leaf_hash
from certlife.contracts.record_checks import plain_certificate_record
from certlife.contracts.records import SIGNING_PREFIX, Record, parse_record, verify_record_signature

#: ``keyId -> raw public key`` of every key that may have signed a record.
KeyDirectory = Mapping[str, bytes]
#: One unit of parallel work: (position, bytes) lines, key directory, check all signatures.
Chunk = tuple[Sequence[tuple[int, bytes]], KeyDirectory, bool]

#: What ``batch_for_chunk`` works on: a chunk plus the trusted origin.
BatchChunk = tuple[Iterable[tuple[int, bytes]], KeyDirectory, bool, str]
#: The facts of a plain certificate record of the trusted origin, as a plain tuple
#: (cheap to pickle): ``(position, index, keyId, sig_ok, number, event, status,
#: seq, prev, recordedAt, effectiveAt, leaf, digest)``, fields as in RecordFacts.
CompactFacts = tuple[int, int, str, "bool | None", str, str, str, int, "bytes | None", str, str, bytes, bytes]

_PARSE_CODES = frozenset({"not-json", "not-canonical", "record-format"})
_ROTATION_MARK = b'"newKey"'
_SIG_MEMBER = b',"sig":"'
_SIG_START = len(_SIG_MEMBER)
_SORT = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_SUPPLEMENTARY_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")
_sha256 = hashlib.sha256


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


def compact_facts(
    position: int, raw: bytes, keys: KeyDirectory, check_signature: bool, origin: str
) -> CompactFacts | None:
    """The facts of a plain certificate record of ``origin`` as a tuple, or None.

    None means "not the common case" (not canonical, not plain, another
    origin, a key record, an unknown key): :func:`record_facts` then does the
    full work and names any problem. A tuple means the bytes are canonical
    (``orjson``'s sorted re-encoding equals them and, with every value plain
    and no supplementary character, that is the JCS encoding) and
    :func:`~certlife.contracts.record_checks.check_record` accepts them.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict or obj.get("kind") != "certificate" or not plain_certificate_record(obj):
        return None
    if obj["origin"] != origin or (not raw.isascii() and any(lead in raw for lead in _SUPPLEMENTARY_LEADS)):
        return None
    try:
        if orjson.dumps(obj, option=_SORT) != raw:
            return None
    except orjson.JSONEncodeError:
        return None
    key_id, sig_ok = obj["keyId"], None
    if check_signature:
        public = keys.get(key_id)
        sig = obj["sig"].encode("ascii")
        start = raw.find(_SIG_MEMBER)
        end = start + _SIG_START + len(sig)
        if public is None or start < 0 or raw[start + _SIG_START : end + 1] != sig + b'"':
            return None
        signed = b"".join((binascii.a2b_base64(sig), SIGNING_PREFIX, raw[:start], raw[end + 1 :]))
        try:  # crypto_sign_open checks signature || message, as verify_ed25519 does
            crypto_sign_open(signed, public)
            sig_ok = True
        except (BadSignatureError, ValueError):
            sig_ok = False
    prev = obj["prev"]
    return (
        position,
        obj["index"],
        key_id,
        sig_ok,
        obj["certificate"]["number"],
        obj["event"],
        obj["status"],
        obj["seq"],
        None if prev is None else bytes.fromhex(prev),
        obj["recordedAt"],
        obj["effectiveAt"],
        _sha256(b"\x00" + raw).digest(),
        _sha256(raw).digest(),
    )


def expand(item: CompactFacts, origin: str) -> RecordFacts:
    """The :class:`RecordFacts` of compact facts of a record of ``origin``."""
    position, index, key_id, sig_ok, number, event, status, seq, prev, recorded, effective, leaf, digest = (
        item
    )
    return RecordFacts(
        position, None, index, "certificate", origin, key_id, sig_ok, number, event, status, seq, prev,
        recorded, effective, leaf, digest, None,
    )  # fmt: skip


def batch_for_chunk(chunk: BatchChunk) -> list[RecordFacts | CompactFacts]:
    """Facts of every line of a chunk: compact tuples for plain records, RecordFacts otherwise."""
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
