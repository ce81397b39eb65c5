"""TEST-ONLY Ed25519 keys derived from the fixture seed (anyone with the seed has them)."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

#: Number of record keys a fixture run can use (key 0, rotated to key 1).
RECORD_KEYS = 2


def run_key(seed: int) -> str:
    """The string every deterministic choice of a run is derived from."""
    return f"certlife-fixtures-v1\n{seed}"


def derive_key(key: str, label: str) -> Ed25519PrivateKey:
    """The Ed25519 key whose 32-byte seed is SHA-256(run key ‖ "\\n" ‖ label)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"{key}\n{label}".encode()).digest())


def record_keys(key: str) -> list[Ed25519PrivateKey]:
    """The record signing keys of a run, in the order they are used."""
    return [derive_key(key, f"record-key-{number}") for number in range(RECORD_KEYS)]


def note_key(key: str) -> Ed25519PrivateKey:
    """The checkpoint note key of a run."""
    return derive_key(key, "note-key")


def private_pem(private: Ed25519PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of a (test-only) private key."""
    return private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
