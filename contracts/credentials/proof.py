"""Data Integrity proofs with the ``eddsa-jcs-2022`` cryptosuite (W3C vc-di-eddsa §3.3).

Signing input: SHA-256(JCS(proof configuration)) ‖ SHA-256(JCS(document without ``proof``)),
64 bytes, signed with Ed25519. The proof configuration is the proof without
``proofValue``; it carries ``@context`` equal to the document's (the form every
known verifier accepts). ``proofValue`` is ``z`` + base58btc(signature).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Protocol

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.credentials.errors import CredentialError
from certlife.contracts.credentials.ids import verification_method
from certlife.contracts.credentials.multikey import decode_multibase_b58, multibase_b58
from certlife.contracts.errors import CanonicalError, RecordFormatError
from certlife.contracts.keys import SIGNATURE_SIZE, verify_ed25519
from certlife.contracts.record_checks import check_timestamp

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_PURPOSE = "assertionMethod"
_PROOF_MEMBERS = {"type", "cryptosuite", "created", "verificationMethod", "proofPurpose", "proofValue"}
_OPTIONAL_MEMBERS = {"@context", "id", "expires", "domain", "challenge", "nonce", "previousProof"}
KEY_ID = re.compile(r"[0-9a-f]{16}")


def is_timestamp(value: Any) -> bool:
    """True for a timestamp of LOG.md §1: ``YYYY-MM-DDThh:mm:ss[.f]Z`` naming a real calendar instant."""
    try:
        check_timestamp({"value": value}, "value")
    except RecordFormatError:
        return False
    return True


class Signer(Protocol):
    """What signs a proof: an Ed25519 key (``contracts.records.RecordSigner`` is one)."""

    key_id: str
    public_raw: bytes

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        ...


def _format(why: str) -> CredentialError:
    return CredentialError(f"malformed proof: {why}", code="credential-format")


def _jcs(value: Any, what: str) -> bytes:
    try:
        return canonical_bytes(value)
    except CanonicalError as exc:
        raise CredentialError(f"{what} is not I-JSON: {exc}", code="credential-format") from None


def hash_data(document: Mapping[str, Any], proof_config: Mapping[str, Any]) -> bytes:
    """Return the 64 bytes an ``eddsa-jcs-2022`` proof signs (config hash ‖ document hash)."""
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    config_hash = hashlib.sha256(_jcs(dict(proof_config), "the proof configuration")).digest()
    return config_hash + hashlib.sha256(_jcs(unsecured, "the document")).digest()


def proof_config(document: Mapping[str, Any], verification_method: str, created: str) -> dict[str, Any]:
    """Return the proof configuration (the proof without ``proofValue``) for ``document``."""
    if not is_timestamp(created):
        raise ValueError(f"created must be a UTC timestamp like 2025-01-31T12:00:00Z, not {created!r}")
    config: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": PROOF_PURPOSE,
    }
    if "@context" in document:
        config["@context"] = document["@context"]
    return config


def sign_document(
    doc: Mapping[str, Any], signer: Signer, verification_method: str, created: str
) -> dict[str, Any]:
    """Return a copy of ``doc`` with an ``eddsa-jcs-2022`` ``proof`` by ``signer``.

    ``created`` is hashed exactly as given (write whole seconds, ``…Z``); ``doc`` must not
    already carry a proof.
    """
    if "proof" in doc:
        raise ValueError("the document already has a proof")
    config = proof_config(doc, verification_method, created)
    signature = signer.sign(hash_data(doc, config))
    return {**doc, "proof": {**config, "proofValue": multibase_b58(signature)}}


def _proof_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(doc, Mapping):
        raise _format("the document is not a JSON object")
    proof = doc.get("proof")
    if not isinstance(proof, dict):
        raise _format("the document has no proof object (exactly one proof is expected)")
    missing = _PROOF_MEMBERS - proof.keys()
    unknown = proof.keys() - _PROOF_MEMBERS - _OPTIONAL_MEMBERS
    if missing or unknown:
        raise _format(f"missing members {sorted(missing)}, unknown members {sorted(unknown)}")
    expected = {"type": PROOF_TYPE, "cryptosuite": CRYPTOSUITE, "proofPurpose": PROOF_PURPOSE}
    for name, value in expected.items():
        if proof[name] != value:
            raise _format(f"{name} is {proof[name]!r}, not {value!r}")
    if not is_timestamp(proof["created"]):
        raise _format("created is not a UTC timestamp naming a real instant")
    if not isinstance(proof["verificationMethod"], str):
        raise _format("verificationMethod is not a string")
    decode_multibase_b58(proof["proofValue"], SIGNATURE_SIZE, "proofValue")
    return proof


def proof_key_id(doc: Mapping[str, Any]) -> str:
    """Return the fragment of the proof's ``verificationMethod`` (certlife: the 16-hex key id)."""
    method = _proof_of(doc)["verificationMethod"]
    _, sep, fragment = method.partition("#")
    if not sep or not fragment:
        raise _format(f"verificationMethod {method!r} has no #fragment")
    return fragment


def proof_method(doc: Mapping[str, Any]) -> str:
    """Return the proof's ``verificationMethod`` (checked to be a well-formed proof first)."""
    return str(_proof_of(doc)["verificationMethod"])


def signing_key_id(doc: Mapping[str, Any], origin: str) -> str:
    """Return the key id of a certlife proof, whose method must be ``https://{origin}/issuer#{keyId}``."""
    key = proof_key_id(doc)
    if not KEY_ID.fullmatch(key) or proof_method(doc) != verification_method(origin, key):
        raise _format(f"verificationMethod must be {verification_method(origin, '<16 hex key id>')}")
    return key


def verify_document(doc: Mapping[str, Any], public_raw: bytes) -> None:
    """Check the ``eddsa-jcs-2022`` proof of ``doc`` under the raw Ed25519 key ``public_raw``.

    Raises :class:`CredentialError` ``credential-format`` for a malformed proof and
    ``credential-signature`` when the signature does not verify. Checks only the proof:
    whose key it is and whether it was in force is for the caller.
    """
    proof = _proof_of(doc)
    signature = decode_multibase_b58(proof["proofValue"], SIGNATURE_SIZE, "proofValue")
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in config and config["@context"] != doc.get("@context"):
        # vc-di-eddsa lets the document's @context extend the proof's; certlife signs both equal.
        raise CredentialError("the proof's @context differs from the document's", code="credential-signature")
    if not verify_ed25519(public_raw, signature, hash_data(doc, config)):
        raise CredentialError("the Data Integrity proof does not verify", code="credential-signature")
