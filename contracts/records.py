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
  records (or credentials) from that index on signed by the subject key are untrusted.
* ``action = "credential-key"``: ``newKey`` only: the credential key that signs
  Verifiable Credentials from ``index + 1`` on (the one before it ends there).

``kind = "statuslist"``: ``purpose``, ``list``, ``logSize``, ``sha256``, ``reason``,
``recordedAt``: the commitment to a published status list credential.

Building lives in ``record_signing`` (certificate records, the signer) and
``key_records`` (the others); this module re-exports those names.

Signing input: ``SIGNING_PREFIX`` + JCS(record without ``sig`` and ``newKeySig``).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from certlife.contracts import record_checks as chk
from certlife.contracts.canonical import encode_parsed, parse_canonical
from certlife.contracts.errors import CanonicalError, RecordFormatError, SignatureError
from certlife.contracts.key_records import (
    STATUS_PURPOSES,
    build_compromise_record,
    build_credential_key_record,
    build_rotation_record,
    build_statuslist_record,
)
from certlife.contracts.keys import key_id, verify_ed25519
from certlife.contracts.record_signing import (
    DEFAULT_ORIGIN,
    MAX_SIGNED_RECORD_BYTES,
    RECORD_VERSION,
    SIGNING_PREFIX,
    UNSIGNED,
    RecordSigner,
    build_certificate_record,
    certificate_record_bound,
    signing_input,
)

#: Largest record, in bytes: its exact JCS bytes, without the newline that separates
#: records in ``log.jsonl``. Verifiers refuse a longer record without reading it whole
#: (LOG.md §11.4).
MAX_RECORD_BYTES = 1 << 20
CERTIFICATE_FIELDS = chk.CERTIFICATE_FIELDS

__all__ = [
    "CERTIFICATE_FIELDS",
    "DEFAULT_ORIGIN",
    "MAX_RECORD_BYTES",
    "MAX_SIGNED_RECORD_BYTES",
    "RECORD_VERSION",
    "SIGNING_PREFIX",
    "STATUS_PURPOSES",
    "Record",
    "RecordSigner",
    "build_certificate_record",
    "build_compromise_record",
    "build_credential_key_record",
    "build_rotation_record",
    "build_statuslist_record",
    "certificate_record_bound",
    "checked_record",
    "parse_record",
    "record_hash",
    "signing_input",
    "verify_record_signature",
]


def record_hash(record_bytes: bytes) -> str:
    """Return lowercase hex SHA-256 of a record's bytes (the next record's ``prev``)."""
    return hashlib.sha256(record_bytes).hexdigest()


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
    purpose = property(lambda self: self._get("purpose"), doc="A status list commitment's purpose.")
    list_id = property(lambda self: self._get("list"), doc="A status list commitment's list id.")
    log_size = property(lambda self: self._get("logSize"), doc="The log prefix a committed list reflects.")
    list_sha256 = property(lambda self: self._get("sha256"), doc="Hex SHA-256 of the committed list.")

    @property
    def number(self) -> str | None:
        """The certificate number, or None for key records."""
        cert = self._get("certificate")
        return None if cert is None else cert["number"]

    @property
    def new_key_id(self) -> str | None:
        """Key id of the incoming key of a rotation record (the announced one of a credential-key record)."""
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
        body = {k: v for k, v in self.data.items() if k not in UNSIGNED}
        return SIGNING_PREFIX + encode_parsed(body)


def parse_record(data: bytes) -> Record:
    """Parse canonical record bytes and check every member strictly."""
    try:
        obj = parse_canonical(data)
    except CanonicalError as exc:
        raise RecordFormatError(f"record is not canonical JSON: {exc}", code=exc.code) from None
    chk.check_record(obj)
    return checked_record(data, obj)


def checked_record(raw: bytes, obj: dict[str, Any]) -> Record:
    """The :class:`Record` of ``raw``, whose decoded object ``obj`` passed the record checks
    (``parse_record``, or a match of the verifier's plain-record recogniser)."""
    return Record(
        raw=raw,
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
