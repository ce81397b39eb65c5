"""The certificate credential: a VC 2.0 modelled on the UNTP Digital Conformity Credential.

Built from one certificate record of the log (and nothing else but the list index, the
log size and the checkpoint time), so that a verifier can rebuild it from the record
and compare: :func:`credential_document` is the one definition of its content.
"""

from __future__ import annotations

from typing import Any, Protocol

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.credentials.document import CONTEXT, as_timestamp
from certlife.contracts.credentials.ids import (
    PURPOSES,
    credential_id,
    issuer_id,
    status_list_id,
    verification_method,
)
from certlife.contracts.credentials.proof import Signer, sign_document
from certlife.contracts.records import record_hash

CREDENTIAL_TYPES = ["VerifiableCredential", "DigitalConformityCredential"]
SUBJECT_TYPE = "ConformityAttestation"
#: Certificate members copied into ``credentialSubject`` (``number`` becomes ``certificateNumber``).
SUBJECT_FIELDS = ("scheme", "holder", "manufacturer", "product", "models", "factories", "standards", "scope")


class CertificateRecord(Protocol):
    """What the credential reads of a record (``contracts.records.Record`` has it)."""

    @property
    def index(self) -> int: ...

    @property
    def origin(self) -> Any: ...

    @property
    def certificate(self) -> Any: ...

    @property
    def status(self) -> Any: ...

    @property
    def seq(self) -> Any: ...


def status_entries(origin: str, list_index: int) -> list[dict[str, Any]]:
    """Return the two ``BitstringStatusListEntry`` items (revocation, then suspension)."""
    entries = []
    for purpose in PURPOSES:
        list_id = status_list_id(origin, purpose)
        entries.append(
            {
                "id": f"{list_id}#{list_index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": purpose,
                "statusListIndex": str(list_index),
                "statusListCredential": list_id,
            }
        )
    return entries


def credential_document(
    record: CertificateRecord, record_bytes: bytes, list_index: int, log_size: int
) -> dict[str, Any]:
    """Return the unsigned credential of certificate ``record`` (whose exact bytes are ``record_bytes``)."""
    cert, origin = record.certificate, record.origin
    if cert is None:
        raise ValueError(f"record {record.index} is not a certificate record")
    if not 0 <= record.index < log_size:
        raise ValueError(f"record {record.index} is not in a log of size {log_size}")
    if list_index < 0:
        raise ValueError("a list index is not negative")
    subject: dict[str, Any] = {"type": SUBJECT_TYPE, "certificateNumber": cert["number"]}
    subject.update({name: cert[name] for name in SUBJECT_FIELDS})
    subject["status"] = record.status
    subject["logRecord"] = {
        "origin": origin,
        "index": record.index,
        "seq": record.seq,
        "sha256": record_hash(record_bytes),
    }
    subject["logSize"] = log_size
    return {
        "@context": list(CONTEXT),
        "id": credential_id(origin, cert["number"], record.seq),
        "type": list(CREDENTIAL_TYPES),
        "issuer": issuer_id(origin),
        "validFrom": as_timestamp(cert["validFrom"]),
        "validUntil": as_timestamp(cert["validUntil"]),
        "credentialSubject": subject,
        "credentialStatus": status_entries(origin, list_index),
    }


def build_credential(
    record: CertificateRecord,
    record_bytes: bytes,
    list_index: int,
    log_size: int,
    created: str,
    signer: Signer,
) -> bytes:
    """Return the JCS bytes of the signed credential of ``record``.

    ``log_size`` is the tree size of the checkpoint the credential is built from,
    ``created`` that checkpoint's time (whole seconds, ``…Z``); ``signer`` is the
    credential key in force at index ``log_size - 1``.
    """
    doc = credential_document(record, record_bytes, list_index, log_size)
    method = verification_method(record.origin, signer.key_id)
    return canonical_bytes(sign_document(doc, signer, method, created))
