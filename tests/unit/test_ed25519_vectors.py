"""Ed25519 against RFC 8032 §7.1 and Wycheproof: cryptography and libsodium agree.

libsodium (used by ``verify_ed25519``) is stricter than RFC 8032 on
small-order and non-canonical public keys and small-order R. On the 151
Wycheproof vectors its verdicts nevertheless equal the expected result and
those of ``cryptography`` for every case; the test below checks each one, so
any future divergence shows up as a named failure.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from certlife.contracts.keys import key_id, load_public_b64, public_raw, verify_ed25519

pytestmark = pytest.mark.unit

VECTORS = Path(__file__).parents[1] / "vectors" / "ed25519"
RFC = json.loads((VECTORS / "rfc8032.json").read_text())["vectors"]
WYCHEPROOF = json.loads((VECTORS / "wycheproof_ed25519_test.json").read_text())
WYCHEPROOF_CASES = [
    (group["publicKey"]["pk"], test) for group in WYCHEPROOF["testGroups"] for test in group["tests"]
]


def _cryptography_accepts(pk: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


@pytest.mark.parametrize("vector", RFC, ids=lambda v: v["name"])
def test_rfc8032_vectors(vector: dict) -> None:
    seed, msg = bytes.fromhex(vector["secret_key_hex"]), bytes.fromhex(vector["message_hex"])
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pk, sig = bytes.fromhex(vector["public_key_hex"]), bytes.fromhex(vector["signature_hex"])
    assert public_raw(key) == pk and public_raw(key.public_key()) == pk
    assert key.sign(msg) == sig  # Ed25519 signing is deterministic
    assert verify_ed25519(pk, sig, msg)
    assert not verify_ed25519(pk, sig, msg + b"\x00")
    tampered = bytes([sig[0] ^ 1]) + sig[1:]
    assert not verify_ed25519(pk, tampered, msg)


def test_wycheproof_count() -> None:
    assert len(WYCHEPROOF_CASES) == WYCHEPROOF["numberOfTests"] == 151


@pytest.mark.parametrize(
    ("pk_hex", "test"), WYCHEPROOF_CASES, ids=[str(t["tcId"]) for _, t in WYCHEPROOF_CASES]
)
def test_wycheproof_libsodium_and_cryptography_agree_with_expectation(pk_hex: str, test: dict) -> None:
    pk, msg, sig = bytes.fromhex(pk_hex), bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
    want = test["result"] == "valid"
    assert verify_ed25519(pk, sig, msg) is want, test["comment"]
    assert _cryptography_accepts(pk, sig, msg) is want, test["comment"]


def test_wrong_lengths_are_rejected_not_raised() -> None:
    vector = RFC[0]
    pk, sig = bytes.fromhex(vector["public_key_hex"]), bytes.fromhex(vector["signature_hex"])
    assert not verify_ed25519(pk[:31], sig, b"")
    assert not verify_ed25519(pk, sig[:63], b"")
    assert not verify_ed25519(pk, sig + b"\x00", b"")


def test_key_id_and_base64_loading() -> None:
    pk = bytes.fromhex(RFC[0]["public_key_hex"])
    assert key_id(pk) == hashlib.sha256(pk).hexdigest()[:16]
    text = base64.b64encode(pk).decode()
    assert public_raw(load_public_b64(text)) == pk
    for bad in (text.rstrip("="), text[:-2] + "x=", base64.b64encode(pk[:31]).decode()):
        with pytest.raises(ValueError):
            load_public_b64(bad)
    with pytest.raises(ValueError):
        key_id(pk[:31])
