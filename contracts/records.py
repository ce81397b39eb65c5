"""The v1 verification record (contracts/LOG.md §§2–5): build, parse, verify.

Every record has ``v`` (1), ``origin``, ``index``, ``kind``, ``keyId`` (signer)
and ``sig``. Member sets are closed: a missing or unknown member is rejected.

``kind = "certificate"``: ``certificate`` (exactly ``CERTIFICATE_FIELDS``),
``event``, ``status``, ``seq``, ``prev``, ``reason``, ``effectiveAt``,
``recordedAt``.

``kind = "key"`` (defined here; signed by the outgoing or current key), plus
``action``, ``reason`` and ``recordedAt``:

* ``action = "rotate"``: ``newKey`` ``{"keyId", "publicKey"}`` (base64 of the
  raw 32 bytes) and ``newKeySig``, the incoming key's signature over the same
  signing input. The new key signs from ``index + 1``; the outgoing key signs
  this record and its range ends at ``index + 1``.
* ``action = "compromise"``: ``subjectKeyId`` and ``compromisedFromIndex``:
  records from that index on signed by the subject key are untrusted.

Signing input: ``SIGNING_PREFIX`` + JCS(record without ``sig`` and ``newKeySig``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts import record_checks as chk
from certlife.contracts.admission import record_content_problem
from certlife.contracts.canonical import canonical_bytes, encode_parsed, parse_canonical
from certlife.contracts.errors import CanonicalError, RecordFormatError, SignatureError
from certlife.contracts.keys import key_id, public_raw, verify_ed25519

RECORD_VERSION = 1
SIGNING_PREFIX = b"certlife-record-v1\n"
#: Largest record, in bytes: its exact JCS bytes, without the newline that separates
#: records in ``log.jsonl``. Verifiers refuse a longer record without reading it whole
#: (LOG.md §11.4).
MAX_RECORD_BYTES = 1 << 20
CERTIFICATE_FIELDS = chk.CERTIFICATE_FIELDS
_UNSIGNED = ("sig", "newKeySig")


def signing_input(record: Mapping[str, Any]) -> bytes:
    """Return the bytes a record's ``sig`` (and ``newKeySig``) sign."""
    body = {k: v for k, v in record.items() if k not in _UNSIGNED}
    return SIGNING_PREFIX + canonical_bytes(body)


def record_hash(record_bytes: bytes) -> str:
    """Return lowercase hex SHA-256 of a record's bytes (the next record's ``prev``)."""
    return hashlib.sha256(record_bytes).hexdigest()


class RecordSigner:
    """Signs records with an Ed25519 private key (never exposes the key)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_raw = public_raw(private_key)
        self.key_id = key_id(self.public_raw)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickle support, so the relay's own builder process can sign (never written to disk)."""
        raw = self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return _signer_from_raw, (raw,)

    def __repr__(self) -> str:
        return f"RecordSigner(key_id={self.key_id!r})"


def _signer_from_raw(raw: bytes) -> RecordSigner:
    return RecordSigner(Ed25519PrivateKey.from_private_bytes(raw))


@dataclass(frozen=True)
class Record:
    """A parsed, structurally valid record (signature not yet verified)."""

    raw: bytes
    index: int
    kind: str
    key_id: str
    sig: bytes
    data: dict[str, Any]

    def _get(self, name: str) -> Any:
        return self.data.get(name)

    origin = property(lambda self: self.data["origin"], doc="The log origin.")
    certificate = property(lambda self: self._get("certificate"), doc="Certificate data.")
    event = property(lambda self: self._get("event"), doc="Lifecycle event or None.")
    status = property(lambda self: self._get("status"), doc="Status after the event.")
    seq = property(lambda self: self._get("seq"), doc="Per-certificate record count.")
    prev = property(lambda self: self._get("prev"), doc="Hex hash of the previous record.")
    reason = property(lambda self: self._get("reason"), doc="Reason text or None.")
    effective_at = property(lambda self: self._get("effectiveAt"), doc="When it took effect.")
    recorded_at = property(lambda self: self._get("recordedAt"), doc="When it was recorded.")
    action = property(lambda self: self._get("action"), doc="Key action or None.")
    subject_key_id = property(lambda self: self._get("subjectKeyId"), doc="Compromised key.")
    compromised_from_index = property(
        lambda self: self._get("compromisedFromIndex"), doc="First untrusted index."
    )

    @property
    def number(self) -> str | None:
        """The certificate number, or None for key records."""
        cert = self._get("certificate")
        return None if cert is None else cert["number"]

    @property
    def new_key_id(self) -> str | None:
        """Key id of the incoming key of a rotation record."""
        new = self._get("newKey")
        return None if new is None else new["keyId"]

    @property
    def new_key_public(self) -> bytes | None:
        """Raw public key of the incoming key of a rotation record."""
        new = self._get("newKey")
        return None if new is None else base64.b64decode(new["publicKey"])

    @property
    def new_key_sig(self) -> bytes | None:
        """The incoming key's signature of a rotation record."""
        sig = self._get("newKeySig")
        return None if sig is None else base64.b64decode(sig)

    def signed_bytes(self) -> bytes:
        """Return the signing input of this record."""
        body = {k: v for k, v in self.data.items() if k not in _UNSIGNED}
        return SIGNING_PREFIX + encode_parsed(body)


def parse_record(data: bytes) -> Record:
    """Parse canonical record bytes and check every member strictly."""
    try:
        obj = parse_canonical(data)
    except CanonicalError as exc:
        raise RecordFormatError(f"record is not canonical JSON: {exc}", code=exc.code) from None
    chk.check_record(obj)
    return Record(
        raw=data,
        index=obj["index"],
        kind=obj["kind"],
        key_id=obj["keyId"],
        sig=base64.b64decode(obj["sig"]),
        data=obj,
    )


def verify_record_signature(record: Record, public_raw: bytes) -> None:
    """Check ``sig`` under ``public_raw`` (and a rotation's ``newKeySig``)."""
    if key_id(public_raw) != record.key_id:
        raise SignatureError(
            f"record {record.index}: key {key_id(public_raw)} is not keyId {record.key_id}",
            code="wrong-key",
        )
    message = record.signed_bytes()
    if not verify_ed25519(public_raw, record.sig, message):
        raise SignatureError(f"record {record.index}: signature does not verify")
    if record.action == "rotate":
        new_public, new_sig = record.new_key_public, record.new_key_sig
        if new_public is None or new_sig is None or not verify_ed25519(new_public, new_sig, message):
            raise SignatureError(f"record {record.index}: newKeySig does not verify under the new key")


def _finish(record: dict[str, Any], signer: RecordSigner, co_signer: RecordSigner | None) -> bytes:
    problem = record_content_problem(record)
    if problem is not None:  # never sign what a consumer cannot read
        raise problem
    message = signing_input(record)
    record["sig"] = _b64(signer.sign(message))
    if co_signer is not None:
        record["newKeySig"] = _b64(co_signer.sign(message))
    # signing_input already walked every value through the I-JSON checks, so
    # encode_parsed's output is the canonical encoding (no need to re-check that);
    # never emit a record our own verifier would reject: its member checks, on
    # the record exactly as a reader decodes it.
    encoded = encode_parsed(record)
    chk.check_record(orjson.loads(encoded))
    return encoded


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


#: The largest record a producer signs: a C2SP tlog-tiles entry holds at most 65,535 bytes
#: (TILES.md), and a record that tiles readers cannot read is never signed (LOG.md §3.2).
MAX_SIGNED_RECORD_BYTES = 65535
#: The origin of a deployment that names none (``CERTLIFE_ORIGIN``'s default).
DEFAULT_ORIGIN = "certlife.example/log"
#: A reason is at most 1,024 characters (the domain's rule): 4 UTF-8 bytes each at worst, never escaped.
_WORST_REASON = "\U0001f600" * 1024
_WORST_NAME = max(("issued", "suspended", "reinstated", "renewed", "amended", "revoked", "withdrawn",
                   "expired", "valid"), key=len)  # fmt: skip


def certificate_record_bound(origin: str) -> Callable[[Mapping[str, Any]], int]:
    """Return ``size(certificate)``: the most bytes a certificate record of log ``origin`` can take
    when its ``certificate`` member is ``certificate``, whatever its other members (the largest
    index, seq, reason, event and status; any key, times and signature).

    JCS writes members one after another, so the record's size is that of the same record with
    an empty ``certificate`` plus the certificate's own encoding, less the two bytes of ``{}``.
    """
    worst = {
        "v": RECORD_VERSION,
        "origin": origin,
        "index": 2**53 - 1,
        "kind": "certificate",
        "keyId": "0" * 16,
        "certificate": {},
        "event": _WORST_NAME,
        "status": _WORST_NAME,
        "seq": 2**53 - 1,
        "prev": "0" * 64,
        "reason": _WORST_REASON,
        "effectiveAt": "9999-12-31T23:59:59Z",
        "recordedAt": "9999-12-31T23:59:59Z",
        "sig": "A" * 88,
    }
    base = len(canonical_bytes(worst)) - 2

    def size(certificate: Mapping[str, Any]) -> int:
        return base + len(canonical_bytes(dict(certificate)))

    return size


def build_certificate_record(
    *,
    origin: str,
    index: int,
    certificate: Mapping[str, Any],
    event: str,
    status: str,
    seq: int,
    prev: str | None,
    reason: str | None,
    effective_at: str,
    recorded_at: str,
    signer: RecordSigner,
) -> bytes:
    """Build and sign a certificate record; return its exact JCS bytes."""
    record = {
        "v": RECORD_VERSION,
        "origin": origin,
        "index": index,
        "kind": "certificate",
        "keyId": signer.key_id,
        "certificate": dict(certificate),
        "event": str(event),
        "status": str(status),
        "seq": seq,
        "prev": prev,
        "reason": reason,
        "effectiveAt": effective_at,
        "recordedAt": recorded_at,
    }
    return _finish(record, signer, None)


def build_rotation_record(
    *,
    origin: str,
    index: int,
    outgoing: RecordSigner,
    incoming: RecordSigner,
    recorded_at: str,
    reason: str | None,
) -> bytes:
    """Build a key rotation record signed by ``outgoing`` and ``incoming``."""
    record = {
        **_key_header(origin, index, outgoing, "rotate", recorded_at, reason),
        "newKey": {"keyId": incoming.key_id, "publicKey": _b64(incoming.public_raw)},
    }
    return _finish(record, outgoing, incoming)


def build_compromise_record(
    *,
    origin: str,
    index: int,
    signer: RecordSigner,
    compromised_key_id: str,
    compromised_from_index: int,
    recorded_at: str,
    reason: str | None,
) -> bytes:
    """Build a record declaring a key compromised from an index on."""
    record = {
        **_key_header(origin, index, signer, "compromise", recorded_at, reason),
        "subjectKeyId": compromised_key_id,
        "compromisedFromIndex": compromised_from_index,
    }
    return _finish(record, signer, None)


def _key_header(
    origin: str, index: int, signer: RecordSigner, action: str, at: str, reason: str | None
) -> dict[str, Any]:
    return {
        "v": RECORD_VERSION,
        "origin": origin,
        "index": index,
        "kind": "key",
        "action": action,
        "keyId": signer.key_id,
        "reason": reason,
        "recordedAt": at,
    }
