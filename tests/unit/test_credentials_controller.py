"""The issuer's controller document and the identifiers derived from the origin."""

from __future__ import annotations

import json

import pytest

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.credentials.controller import controller_document
from certlife.contracts.credentials.ids import credential_id, issuer_id, status_list_id, verification_method
from certlife.contracts.credentials.multikey import public_from_multikey
from certlife.contracts.trust import TrustedKey
from tests.unit.credential_helpers import credential_signer

pytestmark = pytest.mark.unit

ORIGIN = "certlife.example/log"


def test_ids_derive_from_the_origin() -> None:
    assert issuer_id(ORIGIN) == "https://certlife.example/log/issuer"
    assert (
        verification_method(ORIGIN, "00112233aabbccdd")
        == "https://certlife.example/log/issuer#00112233aabbccdd"
    )
    assert status_list_id(ORIGIN, "suspension") == "https://certlife.example/log/statuslists/suspension"
    assert credential_id(ORIGIN, "CB-1", 3) == "urn:certlife:certlife.example/log:CB-1:3"
    assert credential_id(ORIGIN, "CB 1/ä:2", 1) == "urn:certlife:certlife.example/log:CB%201%2F%C3%A4%3A2:1"
    for bad in ("", "https://x.example", "x.example/", " x"):
        with pytest.raises(ValueError):
            issuer_id(bad)
    with pytest.raises(ValueError):
        status_list_id(ORIGIN, "expiry")


def test_controller_document_lists_every_key_as_an_assertion_method() -> None:
    one, two = credential_signer("a"), credential_signer("b")
    keys = [TrustedKey(s.key_id, s.public_raw) for s in (one, two)]
    raw = controller_document(ORIGIN, keys)
    doc = json.loads(raw)
    assert raw == canonical_bytes(doc)
    issuer = "https://certlife.example/log/issuer"
    assert doc["@context"] == ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
    assert doc["id"] == issuer
    assert doc["assertionMethod"] == [f"{issuer}#{one.key_id}", f"{issuer}#{two.key_id}"]
    first = doc["verificationMethod"][0]
    assert first.keys() == {"id", "type", "controller", "publicKeyMultibase"}
    assert (first["type"], first["controller"]) == ("Multikey", issuer)
    assert first["publicKeyMultibase"].startswith("z6Mk")
    assert public_from_multikey(first["publicKeyMultibase"]) == one.public_raw


def test_controller_document_refuses_a_key_id_of_another_key_and_duplicates() -> None:
    one, two = credential_signer("a"), credential_signer("b")
    with pytest.raises(ValueError):
        controller_document(ORIGIN, [TrustedKey(one.key_id, two.public_raw)])
    with pytest.raises(ValueError):
        controller_document(ORIGIN, [TrustedKey(one.key_id, one.public_raw)] * 2)
