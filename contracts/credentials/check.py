"""Pure checks of a certificate credential, used by ``certverify credential``.

Parse first (:func:`parse_credential`: shape, ids and proof form), then check in
steps: the proof (``proof.verify_document`` under the key the caller found in force),
the credential against its log record (:func:`check_credential_against_record`),
and the status bits (:func:`check_status`). Each failure is a
:class:`CredentialError` with its code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from certlife.contracts.credentials.bitstring import bit_at
from certlife.contracts.credentials.dcc import CREDENTIAL_TYPES, credential_document, status_entries
from certlife.contracts.credentials.document import CONTEXT, HEX64, load_json_object, member
from certlife.contracts.credentials.errors import CredentialError
from certlife.contracts.credentials.ids import PURPOSES, credential_id, issuer_id
from certlife.contracts.credentials.proof import signing_key_id
from certlife.contracts.credentials.statuslist import StatusList
from certlife.contracts.errors import ContractError
from certlife.contracts.records import parse_record, record_hash

_MEMBERS = {"@context", "id", "type", "issuer", "validFrom", "validUntil", "credentialSubject"}
_MEMBERS |= {"credentialStatus", "proof"}
_STATUS_BIT_CODE = {"revocation": "status-revoked", "suspension": "status-suspended"}


@dataclass(frozen=True)
class Credential:
    """A parsed certificate credential (proof not yet verified)."""

    origin: str
    number: str
    record_index: int
    seq: int
    sha256: str
    log_size: int
    list_index: int
    key_id: str
    document: dict[str, Any]

    def status_list_url(self, purpose: str) -> str:
        """The ``statusListCredential`` of ``purpose`` this credential names."""
        return str(
            next(e for e in self.document["credentialStatus"] if e["statusPurpose"] == purpose)[
                "statusListCredential"
            ]
        )


def _fail(why: str) -> CredentialError:
    return CredentialError(f"credential: {why}", code="credential-format")


def _int(obj: dict[str, Any], name: str, minimum: int, where: str) -> int:
    value = member(obj, name, int, where)
    if value < minimum:
        raise ValueError(f"{where}: {name} must be at least {minimum}")
    return int(value)


def _parse(doc: dict[str, Any]) -> Credential:
    if doc.keys() != _MEMBERS:
        raise ValueError(f"members must be exactly {sorted(_MEMBERS)}")
    subject = member(doc, "credentialSubject", dict, "credential")
    log_record = member(subject, "logRecord", dict, "credentialSubject")
    if log_record.keys() != {"origin", "index", "seq", "sha256"}:
        raise ValueError("logRecord members must be exactly origin, index, seq, sha256")
    origin = member(log_record, "origin", str, "logRecord")
    number = member(subject, "certificateNumber", str, "credentialSubject")
    index, seq = _int(log_record, "index", 0, "logRecord"), _int(log_record, "seq", 1, "logRecord")
    sha256 = member(log_record, "sha256", str, "logRecord")
    if not HEX64.fullmatch(sha256):
        raise ValueError("logRecord.sha256 is not 64 lowercase hex digits")
    log_size = _int(subject, "logSize", index + 1, "credentialSubject")
    expected = {"@context": list(CONTEXT), "type": CREDENTIAL_TYPES, "issuer": issuer_id(origin)}
    expected["id"] = credential_id(origin, number, seq)
    for name, value in expected.items():
        if doc[name] != value:
            raise ValueError(f"{name} must be {value!r}")
    entries = member(doc, "credentialStatus", list, "credential")
    first = entries[0] if entries and type(entries[0]) is dict else {}
    text = member(first, "statusListIndex", str, "credentialStatus[0]")
    if not text.isascii() or not text.isdigit() or str(int(text)) != text:
        raise ValueError("statusListIndex is not a decimal integer string")
    if entries != status_entries(origin, int(text)):
        raise ValueError(f"credentialStatus must be the {PURPOSES} entries of index {text}")
    key = signing_key_id(doc, origin)
    return Credential(origin, number, index, seq, sha256, log_size, int(text), key, doc)


def parse_credential(raw: bytes) -> Credential:
    """Parse a credential file (any JSON layout) and check its shape, ids and proof form.

    Raises :class:`CredentialError` ``credential-format``.
    """
    try:
        return _parse(load_json_object(raw))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    except CredentialError as exc:
        raise _fail(str(exc)) from None


def check_credential_against_record(
    cred: Credential, record_bytes: bytes, list_index: int | None = None
) -> None:
    """Check that ``cred`` is exactly the credential of the record ``record_bytes``.

    The record's hash must be ``logRecord.sha256`` and the credential, without its proof,
    must equal the one built from the record (every member). With ``list_index`` (the
    verifier's own, from :class:`~certlife.contracts.credentials.listindex.StatusBits`),
    the credential's list index must equal it. Raises ``credential-mismatch``.
    """
    if record_hash(record_bytes) != cred.sha256:
        raise CredentialError(
            f"credential: record {cred.record_index} of the log is not the record it was built from",
            code="credential-mismatch",
        )
    if list_index is not None and list_index != cred.list_index:
        raise CredentialError(
            f"credential: list index {cred.list_index}, but certificate {cred.number} has index {list_index}",
            code="credential-mismatch",
        )
    try:
        record = parse_record(record_bytes)
        expected = credential_document(record, record_bytes, cred.list_index, cred.log_size)
    except (ContractError, ValueError, KeyError, TypeError) as exc:
        raise CredentialError(
            f"credential: its record is unusable: {exc}", code="credential-mismatch"
        ) from None
    unsigned = {k: v for k, v in cred.document.items() if k != "proof"}
    differing = sorted(k for k in expected.keys() | unsigned.keys() if expected.get(k) != unsigned.get(k))
    if differing:
        raise CredentialError(
            f"credential: {', '.join(differing)} disagree with record {record.index}",
            code="credential-mismatch",
        )


def check_status(cred: Credential, status_list: StatusList) -> None:
    """Check ``cred``'s bit in one status list (proof and commitment checked by the caller).

    Raises ``statuslist-format`` if the list is not the one the credential names,
    ``statuslist-stale`` if it reflects no record after the credential's
    (``logSize <= record index``), and ``status-revoked`` / ``status-suspended`` if the bit is set.
    """
    if status_list.list_id != cred.status_list_url(status_list.purpose) or status_list.origin != cred.origin:
        raise CredentialError(
            f"status list {status_list.list_id} is not the credential's {status_list.purpose} list",
            code="statuslist-format",
        )
    if status_list.log_size <= cred.record_index:
        raise CredentialError(
            f"the {status_list.purpose} list reflects log size {status_list.log_size}, "
            f"not record {cred.record_index} of the credential",
            code="statuslist-stale",
        )
    if bit_at(status_list.bits, cred.list_index):
        raise CredentialError(
            f"certificate {cred.number}: {status_list.purpose} bit {cred.list_index} is set",
            code=_STATUS_BIT_CODE[status_list.purpose],
        )
