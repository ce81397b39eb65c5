"""Building the records that are not about one certificate (contracts/LOG.md §4.1–§4.4).

``kind = "key"`` records change which keys are trusted: ``rotate`` (a new record
key takes over), ``compromise`` (distrust a record or credential key from an
index on) and ``credential-key`` (announce the credential key that signs
Verifiable Credentials from the next index on). ``kind = "statuslist"`` records
commit the SHA-256 of a published status list credential to the log.
``certlife.contracts.records`` re-exports the builders; import from there.
"""

from __future__ import annotations

from typing import Any

from certlife.contracts.keys import key_id
from certlife.contracts.record_signing import RECORD_VERSION, RecordSigner, b64, finish_record

#: The two status purposes a ``statuslist`` record may commit (one list each).
STATUS_PURPOSES = ("revocation", "suspension")


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
        "newKey": {"keyId": incoming.key_id, "publicKey": b64(incoming.public_raw)},
    }
    return finish_record(record, outgoing, incoming)


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
    """Build a record declaring a record or credential key compromised from an index on."""
    record = {
        **_key_header(origin, index, signer, "compromise", recorded_at, reason),
        "subjectKeyId": compromised_key_id,
        "compromisedFromIndex": compromised_from_index,
    }
    return finish_record(record, signer, None)


def build_credential_key_record(
    *,
    origin: str,
    index: int,
    signer: RecordSigner,
    credential_public: bytes,
    recorded_at: str,
    reason: str | None,
) -> bytes:
    """Build the announcement of credential key ``credential_public`` (raw 32 bytes).

    Signed by the record key in force (``signer``) only: the credential key never signs a record.
    """
    record = {
        **_key_header(origin, index, signer, "credential-key", recorded_at, reason),
        "newKey": {"keyId": key_id(credential_public), "publicKey": b64(credential_public)},
    }
    return finish_record(record, signer, None)


def build_statuslist_record(
    *,
    origin: str,
    index: int,
    signer: RecordSigner,
    purpose: str,
    list_id: str,
    log_size: int,
    sha256: str,
    recorded_at: str,
    reason: str | None = None,
) -> bytes:
    """Build the commitment to a status list credential: its ``sha256`` (hex of its exact bytes).

    ``list_id`` is the list's id (``https://{origin}/statuslists/{purpose}``) and
    ``log_size`` the log prefix it reflects (at most ``index``).
    """
    record = {
        "v": RECORD_VERSION,
        "origin": origin,
        "index": index,
        "kind": "statuslist",
        "keyId": signer.key_id,
        "purpose": purpose,
        "list": list_id,
        "logSize": log_size,
        "sha256": sha256,
        "reason": reason,
        "recordedAt": recorded_at,
    }
    return finish_record(record, signer, None)


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
