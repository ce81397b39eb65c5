"""The ``BitstringStatusListCredential`` of one purpose, as of one log size.

Published bytes: JCS of the signed credential. ``credentialSubject`` carries the
standard members plus ``logSize``, the log prefix the bits reflect (the list is a
function of that prefix: contracts/credentials/listindex.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from certlife.contracts.canonical import canonical_bytes, parse_canonical
from certlife.contracts.credentials.bitstring import decode_list, encode_list
from certlife.contracts.credentials.document import CONTEXT, member
from certlife.contracts.credentials.errors import CredentialError
from certlife.contracts.credentials.ids import PURPOSES, issuer_id, status_list_id, verification_method
from certlife.contracts.credentials.proof import Signer, is_timestamp, sign_document, signing_key_id
from certlife.contracts.errors import CanonicalError

LIST_TYPES = ["VerifiableCredential", "BitstringStatusListCredential"]
_MEMBERS = {"@context", "id", "type", "issuer", "validFrom", "credentialSubject", "proof"}
_SUBJECT = {"id", "type", "statusPurpose", "encodedList", "logSize"}


def status_list_document(
    origin: str, purpose: str, set_bits: Iterable[int], size: int, log_size: int, created: str
) -> dict[str, Any]:
    """Return the unsigned status list credential of ``purpose`` as of ``log_size``."""
    list_id = status_list_id(origin, purpose)
    return {
        "@context": list(CONTEXT),
        "id": list_id,
        "type": list(LIST_TYPES),
        "issuer": issuer_id(origin),
        "validFrom": created,
        "credentialSubject": {
            "id": list_id + "#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encode_list(set_bits, size),
            "logSize": log_size,
        },
    }


def build_status_list(
    origin: str, purpose: str, set_bits: Iterable[int], size: int, log_size: int, created: str, signer: Signer
) -> bytes:
    """Return the published bytes (JCS) of the signed status list credential."""
    doc = status_list_document(origin, purpose, set_bits, size, log_size, created)
    return canonical_bytes(sign_document(doc, signer, verification_method(origin, signer.key_id), created))


@dataclass(frozen=True)
class StatusList:
    """A parsed status list credential (proof not yet verified)."""

    origin: str
    purpose: str
    log_size: int
    bits: bytes
    key_id: str
    document: dict[str, Any]

    @property
    def list_id(self) -> str:
        """The list's id (and URL)."""
        return str(self.document["id"])


def _origin_of(list_id: str, purpose: str) -> str:
    prefix, suffix = "https://", f"/statuslists/{purpose}"
    if not (list_id.startswith(prefix) and list_id.endswith(suffix)):
        raise ValueError(f"id {list_id!r} is not https://ORIGIN{suffix}")
    origin = list_id[len(prefix) : -len(suffix)]
    if status_list_id(origin, purpose) != list_id:
        raise ValueError(f"id {list_id!r} does not name a log origin")
    return origin


def _parse(doc: dict[str, Any]) -> StatusList:
    if doc.keys() != _MEMBERS:
        raise ValueError(f"members must be exactly {sorted(_MEMBERS)}")
    subject = member(doc, "credentialSubject", dict, "status list")
    if subject.keys() != _SUBJECT:
        raise ValueError(f"credentialSubject members must be exactly {sorted(_SUBJECT)}")
    purpose = member(subject, "statusPurpose", str, "credentialSubject")
    if purpose not in PURPOSES:
        raise ValueError(f"statusPurpose {purpose!r} is not one of {PURPOSES}")
    origin = _origin_of(member(doc, "id", str, "status list"), purpose)
    expected = status_list_document(origin, purpose, (), 131072, 0, doc["validFrom"])
    for name in ("@context", "type", "issuer"):
        if doc[name] != expected[name]:
            raise ValueError(f"{name} must be {expected[name]!r}")
    if subject["id"] != doc["id"] + "#list" or subject["type"] != "BitstringStatusList":
        raise ValueError("credentialSubject id/type must be the list id + '#list' / BitstringStatusList")
    log_size = member(subject, "logSize", int, "credentialSubject")
    if log_size < 0:
        raise ValueError("logSize must not be negative")
    if not is_timestamp(member(doc, "validFrom", str, "status list")):
        raise ValueError("validFrom is not a UTC timestamp naming a real instant")
    bits = decode_list(member(subject, "encodedList", str, "credentialSubject"))
    return StatusList(origin, purpose, log_size, bits, signing_key_id(doc, origin), doc)


def parse_status_list(raw: bytes) -> StatusList:
    """Parse the published bytes of a status list credential (they must be its JCS form).

    Raises :class:`CredentialError` ``statuslist-format`` for anything malformed.
    """
    try:
        doc = parse_canonical(raw)
    except CanonicalError as exc:
        raise CredentialError(f"status list: {exc}", code="statuslist-format") from None
    try:
        return _parse(doc)
    except ValueError as exc:
        raise CredentialError(f"status list: {exc}", code="statuslist-format") from None
    except CredentialError as exc:
        raise CredentialError(f"status list: {exc}", code="statuslist-format") from None
