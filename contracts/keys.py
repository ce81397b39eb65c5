"""Ed25519 key helpers: key ids, raw encodings and fast verification.

Signing uses ``cryptography``; verification uses libsodium through PyNaCl,
which verifies about twice as fast. libsodium is stricter than RFC 8032 in
a few edge cases (it rejects small-order and non-canonical public keys and
small-order R); no honest signer produces such keys or signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def key_id(public_raw: bytes) -> str:
    """Return the record key id: lowercase hex of SHA-256(raw public key)[:8]."""
    if len(public_raw) != PUBLIC_KEY_SIZE:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(public_raw).digest()[:8].hex()


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """Return the raw 32-byte public key of an Ed25519 private or public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def b64decode_strict(text: str) -> bytes:
    """Decode standard, padded base64 and require the canonical encoding.

    Raises ``ValueError`` on other alphabets, missing padding, whitespace or
    non-zero padding bits, so that one value has exactly one text form.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError("not standard padded base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not the canonical base64 encoding")
    return raw


def load_public_b64(text: str) -> Ed25519PublicKey:
    """Load an Ed25519 public key from base64 of its raw 32 bytes."""
    raw = b64decode_strict(text)
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"Ed25519 public key has 32 bytes, not {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_ed25519(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    """Return True if ``signature`` is a valid Ed25519 signature (libsodium rules)."""
    if len(public_raw) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    return opens(signature + message, public_raw)


def opens(signed: bytes, public_raw: bytes) -> bool:
    """Return True if ``signed`` (signature || message, the attached form) verifies under
    ``public_raw``: libsodium's ``crypto_sign_open``, the one Ed25519 check of verifiers."""
    try:
        crypto_sign_open(signed, public_raw)
    except (BadSignatureError, ValueError):
        return False
    return True
