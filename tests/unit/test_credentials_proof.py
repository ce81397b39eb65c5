"""eddsa-jcs-2022 proofs beyond the W3C vectors: what sign and verify refuse."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from certlife.contracts.credentials.errors import CredentialError
from certlife.contracts.credentials.multikey import multikey, public_from_multikey, seed_from_secret_multikey
from certlife.contracts.credentials.proof import proof_key_id, sign_document, signing_key_id, verify_document
from tests.unit.credential_helpers import CREATED, credential_signer

pytestmark = pytest.mark.unit

DOC = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    "type": ["VerifiableCredential"],
    "issuer": "https://certlife.example/log/issuer",
    "credentialSubject": {"name": "Grüße"},
}


def _signed() -> dict[str, Any]:
    signer = credential_signer()
    return sign_document(DOC, signer, f"https://certlife.example/log/issuer#{signer.key_id}", CREATED)


def _code(doc: Any, public_raw: bytes | None = None) -> str:
    with pytest.raises(CredentialError) as caught:
        verify_document(doc, public_raw or credential_signer().public_raw)
    return caught.value.code


def test_sign_then_verify_and_read_the_key_id() -> None:
    signed = _signed()
    verify_document(signed, credential_signer().public_raw)
    assert proof_key_id(signed) == credential_signer().key_id
    assert signing_key_id(signed, "certlife.example/log") == credential_signer().key_id
    assert signed["proof"]["@context"] == DOC["@context"] and "proof" not in DOC


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("created", "2025-03-02T00:00:01Z"),
        ("verificationMethod", "https://x.example/issuer#k"),
        ("@context", []),
    ],
)
def test_every_proof_option_is_signed(where: str, value: Any) -> None:
    signed = _signed()
    signed["proof"][where] = value
    assert _code(signed) == "credential-signature"


def test_the_document_is_signed_and_the_key_matters() -> None:
    signed = _signed()
    changed = copy.deepcopy(signed)
    changed["credentialSubject"]["name"] = "Grusse"
    assert _code(changed) == "credential-signature"
    assert _code(signed, credential_signer("other").public_raw) == "credential-signature"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("proofValue"),
        lambda p: p.update(type="Ed25519Signature2020"),
        lambda p: p.update(proofPurpose="authentication"),
        lambda p: p.update(created="2025-03-02 00:00:00"),
        lambda p: p.update(proofValue="u" + p["proofValue"][1:]),
        lambda p: p.update(proofValue=p["proofValue"][:-2]),
        lambda p: p.update(unknown=1),
    ],
)
def test_malformed_proofs_are_credential_format(mutate: Any) -> None:
    signed = _signed()
    mutate(signed["proof"])
    assert _code(signed) == "credential-format"
    assert _code({**DOC}) == "credential-format"


def test_sign_refuses_an_already_signed_document_and_a_loose_timestamp() -> None:
    signer = credential_signer()
    with pytest.raises(ValueError):
        sign_document(_signed(), signer, "x#y", CREATED)
    with pytest.raises(ValueError):
        sign_document(DOC, signer, "x#y", "2025-03-02T00:00:00+00:00")


def test_multikey_refuses_other_key_types() -> None:
    signer = credential_signer()
    text = multikey(signer.public_raw)
    assert public_from_multikey(text) == signer.public_raw
    for bad in (text[:-1], "u" + text[1:], text + "1", "z" + text[2:]):
        with pytest.raises(CredentialError):
            public_from_multikey(bad)
    with pytest.raises(CredentialError):
        seed_from_secret_multikey(text)  # a public key is not a secret key


@pytest.mark.parametrize("created", ["2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z", "2025-03-01T12:60:00Z"])
def test_created_must_be_a_real_calendar_instant(created: str) -> None:
    """A ``created`` matching the pattern but naming no instant is credential-format, signed or not."""
    signed = _signed()
    signed["proof"]["created"] = created
    assert _code(signed) == "credential-format"
    signer = credential_signer()
    with pytest.raises(ValueError):
        sign_document(DOC, signer, f"https://certlife.example/log/issuer#{signer.key_id}", created)
