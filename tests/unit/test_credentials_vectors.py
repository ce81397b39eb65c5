"""The W3C vc-di-eddsa ``eddsa-jcs-2022`` test vectors, reproduced byte for byte.

Both canonical forms, both hashes, the combined hash, the signature (hex and base58btc),
the signed credential; and the signed credential verifies with ``verify_document``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.credentials.errors import CredentialError
from certlife.contracts.credentials.multikey import (
    b58decode,
    b58encode,
    multikey,
    public_from_multikey,
    seed_from_secret_multikey,
)
from certlife.contracts.credentials.proof import hash_data, sign_document, verify_document
from certlife.contracts.records import RecordSigner

pytestmark = pytest.mark.unit

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "vc-di-eddsa"


def _text(name: str) -> str:
    return (VECTORS / name).read_text(encoding="utf-8")


def _json(name: str) -> Any:
    return json.loads(_text(name))


@pytest.fixture(scope="module")
def signer() -> RecordSigner:
    seed = seed_from_secret_multikey(_json("keyPair.json")["privateKeyMultibase"])
    return RecordSigner(Ed25519PrivateKey.from_private_bytes(seed))


def _unsigned() -> dict[str, Any]:
    signed = _json("signedJCS.json")
    return {k: v for k, v in signed.items() if k != "proof"}


def test_the_key_pair_round_trips_through_multikey(signer: RecordSigner) -> None:
    public_text = _json("keyPair.json")["publicKeyMultibase"]
    assert multikey(signer.public_raw) == public_text
    assert public_from_multikey(public_text) == signer.public_raw


def test_both_canonical_forms_and_both_hashes() -> None:
    config = _json("proofConfigJCS.json")
    proof_canon, doc_canon = canonical_bytes(config), canonical_bytes(_unsigned())
    assert proof_canon == _text("proofCanonJCS.txt").encode()
    assert doc_canon == _text("canonDocJCS.txt").encode()
    assert hashlib.sha256(proof_canon).hexdigest() == _text("proofHashJCS.txt").strip()
    assert hashlib.sha256(doc_canon).hexdigest() == _text("docHashJCS.txt").strip()
    assert hash_data(_unsigned(), config).hex() == _text("combinedHashJCS.txt").strip()


def test_the_signature_and_the_signed_credential(signer: RecordSigner) -> None:
    config = _json("proofConfigJCS.json")
    signed = sign_document(_unsigned(), signer, config["verificationMethod"], config["created"])
    proof_value = signed["proof"]["proofValue"]
    assert b58decode(proof_value[1:]).hex() == _text("sigHexJCS.txt").strip()
    assert proof_value == _text("sigBTC58JCS.txt").strip()
    assert signed == _json("signedJCS.json")
    assert json.dumps(signed, indent=2) == _text("signedJCS.json").strip()


def test_the_signed_vector_verifies_and_a_changed_one_does_not(signer: RecordSigner) -> None:
    signed = _json("signedJCS.json")
    verify_document(signed, signer.public_raw)
    changed = {**signed, "name": "Alumni Credential!"}
    with pytest.raises(CredentialError) as caught:
        verify_document(changed, signer.public_raw)
    assert caught.value.code == "credential-signature"


def test_base58_keeps_leading_zero_bytes() -> None:
    for raw in (b"", b"\0", b"\0\0\x01", b"\xff" * 64, bytes(range(40))):
        assert b58decode(b58encode(raw)) == raw
    assert b58encode(b"\0\0\x01") == "112"
