"""Multikey and multibase text forms of Ed25519 keys and signatures (base58btc, ``z`` prefix).

* public key: ``z`` + base58btc(0xed 0x01 ‖ 32 key bytes) — ``z6Mk…``;
* secret seed: ``z`` + base58btc(0x80 0x26 ‖ 32 seed bytes) — ``z3u2…``;
* a ``proofValue``: ``z`` + base58btc(64 signature bytes).

base58btc is the Bitcoin alphabet; each leading zero byte is one leading ``1``.
"""

from __future__ import annotations

from certlife.contracts.credentials.errors import CredentialError

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_VALUES = {char: value for value, char in enumerate(ALPHABET)}
ED25519_PUB_PREFIX = b"\xed\x01"
ED25519_PRIV_PREFIX = b"\x80\x26"
#: Longest base58 text decoded (a signature is 88 characters at most): bounds the work.
_MAX_TEXT = 256


def b58encode(raw: bytes) -> str:
    """Return the base58btc text of ``raw`` (no multibase prefix)."""
    zeros = len(raw) - len(raw.lstrip(b"\0"))
    number = int.from_bytes(raw, "big")
    digits = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(ALPHABET[digit])
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    """Decode base58btc text; raises ``ValueError`` on a character outside the alphabet."""
    if len(text) > _MAX_TEXT:
        raise ValueError("base58 text too long")
    number = 0
    for char in text:
        value = _VALUES.get(char)
        if value is None:
            raise ValueError(f"{char!r} is not a base58btc character")
        number = number * 58 + value
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * zeros + body


def multibase_b58(raw: bytes) -> str:
    """Return ``z`` + base58btc(``raw``)."""
    return "z" + b58encode(raw)


def decode_multibase_b58(text: str, size: int, what: str) -> bytes:
    """Decode a ``z`` multibase string of exactly ``size`` bytes whose encoding is the canonical one."""
    if not isinstance(text, str) or not text.startswith("z"):
        raise CredentialError(f"{what} is not a base58btc multibase string (z…)", code="credential-format")
    try:
        raw = b58decode(text[1:])
    except ValueError as exc:
        raise CredentialError(f"{what}: {exc}", code="credential-format") from None
    if len(raw) != size or multibase_b58(raw) != text:
        raise CredentialError(f"{what} does not hold exactly {size} bytes", code="credential-format")
    return raw


def multikey(public_raw: bytes) -> str:
    """Return the Multikey ``publicKeyMultibase`` of a raw 32-byte Ed25519 public key (``z6Mk…``)."""
    if len(public_raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return multibase_b58(ED25519_PUB_PREFIX + public_raw)


def public_from_multikey(text: str) -> bytes:
    """Return the raw 32-byte Ed25519 public key of a ``z6Mk…`` Multikey string."""
    raw = decode_multibase_b58(text, 34, "publicKeyMultibase")
    if raw[:2] != ED25519_PUB_PREFIX:
        raise CredentialError(
            "publicKeyMultibase is not an Ed25519 public key (0xed01)", code="credential-format"
        )
    return raw[2:]


def secret_multikey(seed: bytes) -> str:
    """Return the Multikey ``secretKeyMultibase`` of a 32-byte Ed25519 seed (``z3u2…``)."""
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    return multibase_b58(ED25519_PRIV_PREFIX + seed)


def seed_from_secret_multikey(text: str) -> bytes:
    """Return the 32-byte Ed25519 seed of a ``z3u2…`` secret Multikey string."""
    raw = decode_multibase_b58(text, 34, "secretKeyMultibase")
    if raw[:2] != ED25519_PRIV_PREFIX:
        raise CredentialError("secretKeyMultibase is not an Ed25519 seed (0x8026)", code="credential-format")
    return raw[2:]
