"""The issuer's controller document (``issuer.json``, ``GET /issuer``): its credential keys.

Each key is a ``Multikey`` verification method ``{issuer}#{keyId}``, controlled by the
issuer and listed under ``assertionMethod``. The caller lists the keys that are not
compromised (old keys stay listed, so that older credentials still resolve).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.credentials.ids import issuer_id, verification_method
from certlife.contracts.credentials.multikey import multikey
from certlife.contracts.keys import key_id

CONTROLLER_CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]


class PublicKey(Protocol):
    """A credential key: its id and raw public key (``contracts.trust.TrustedKey`` has both)."""

    @property
    def key_id(self) -> str: ...

    @property
    def public_raw(self) -> bytes: ...


def verification_method_entry(origin: str, public_raw: bytes) -> dict[str, Any]:
    """Return the ``Multikey`` verification method of one credential key."""
    return {
        "id": verification_method(origin, key_id(public_raw)),
        "type": "Multikey",
        "controller": issuer_id(origin),
        "publicKeyMultibase": multikey(public_raw),
    }


def controller_document_dict(origin: str, keys: Iterable[PublicKey]) -> dict[str, Any]:
    """Return the controller document of log ``origin`` listing ``keys`` in the given order."""
    methods = []
    for key in keys:
        if key.key_id != key_id(key.public_raw):
            raise ValueError(f"key id {key.key_id} does not belong to its public key")
        methods.append(verification_method_entry(origin, key.public_raw))
    if len({m["id"] for m in methods}) != len(methods):
        raise ValueError("a key is listed twice")
    return {
        "@context": list(CONTROLLER_CONTEXT),
        "id": issuer_id(origin),
        "assertionMethod": [m["id"] for m in methods],
        "verificationMethod": methods,
    }


def controller_document(origin: str, keys: Iterable[PublicKey]) -> bytes:
    """Return the JCS bytes of the controller document of log ``origin`` listing ``keys``."""
    return canonical_bytes(controller_document_dict(origin, keys))
