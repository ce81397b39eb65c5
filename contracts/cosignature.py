"""C2SP tlog-cosignature v1 (Ed25519): a witness's timestamped statement on a checkpoint.

A cosignature is a signed-note signature line ``— <name> base64(keyID ‖ timestamp ‖ sig)``:
key ID = SHA-256(name ‖ "\\n" ‖ 0x04 ‖ public key)[:4], timestamp a big-endian u64
(POSIX seconds, at most 2^63 - 1), and ``sig`` an Ed25519 signature over::

    cosignature/v1
    time <timestamp>
    <checkpoint body, with its final newline>

Verifier keys are vkeys ``name+hexkeyid+base64(0x04 ‖ public key)``. This module
is the one implementation of cosigning (the witness) and of checking a
cosignature (the log's witness client, ``certverify``); see contracts/LOG.md §9.6.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.errors import NoteError
from certlife.contracts.keys import b64decode_strict, public_raw, verify_ed25519
from certlife.contracts.notes import split_signed_note

COSIGNATURE_TYPE = b"\x04"
#: Size of a decoded Ed25519 cosignature: key ID, timestamp, signature.
COSIGNATURE_SIZE = 4 + 8 + 64
MAX_TIMESTAMP = 2**63 - 1
_HEADER = "cosignature/v1\n"


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name) or re.search("[\ud800-\udfff]", name):
        raise NoteError(f"invalid cosigner name {name!r}", code="malformed-vkey")


def cosigner_key_id(name: str, public: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 cosigner key (signature type 0x04)."""
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + public).digest()[:4]


def cosigned_message(checkpoint_body: str, timestamp: int) -> bytes:
    """The bytes a cosigner signs for ``checkpoint_body`` at ``timestamp``."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} out of range", code="malformed-cosignature")
    return f"{_HEADER}time {timestamp}\n{checkpoint_body}".encode()


class CosignatureVerifier:
    """An Ed25519 cosigner (witness) key: name, key ID and raw public key."""

    def __init__(self, name: str, public: bytes) -> None:
        _check_name(name)
        if len(public) != 32:
            raise NoteError("a cosigner key is a 32-byte Ed25519 public key", code="malformed-vkey")
        self.name, self.public_raw = name, public
        self.key_id = cosigner_key_id(name, public)

    @classmethod
    def from_string(cls, vkey: str) -> CosignatureVerifier:
        """Parse a cosigner vkey ``name+hexkeyid+base64(0x04 ‖ key)``, checking its key ID."""
        parts = vkey.split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteError(f"malformed cosigner key: {vkey[:120]!r}", code="malformed-vkey")
        try:
            material = b64decode_strict(parts[2])
        except ValueError as exc:
            raise NoteError(f"malformed cosigner key: {exc}", code="malformed-vkey") from None
        if len(material) != 33 or material[:1] != COSIGNATURE_TYPE:
            raise NoteError(
                "malformed cosigner key: not an Ed25519 cosignature/v1 key (type 0x04)", code="malformed-vkey"
            )
        verifier = cls(parts[0], material[1:])
        if verifier.key_id.hex() != parts[1]:
            raise NoteError("malformed cosigner key: key ID mismatch", code="malformed-vkey")
        return verifier

    def vkey(self) -> str:
        """This key as a vkey string."""
        encoded = base64.b64encode(COSIGNATURE_TYPE + self.public_raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, checkpoint_body: str, signature: bytes) -> int:
        """Check a decoded signature (key ID ‖ timestamp ‖ sig); return its timestamp.

        Raises ``NoteError`` (``bad-cosignature``) when it is not this key's valid
        cosignature of ``checkpoint_body``.
        """
        if len(signature) != COSIGNATURE_SIZE or signature[:4] != self.key_id:
            raise NoteError(f"cosignature by {self.name} is malformed", code="bad-cosignature")
        (timestamp,) = struct.unpack(">Q", signature[4:12])
        if timestamp > MAX_TIMESTAMP or not verify_ed25519(
            self.public_raw, signature[12:], cosigned_message(checkpoint_body, timestamp)
        ):
            raise NoteError(f"invalid cosignature by {self.name}", code="bad-cosignature")
        return int(timestamp)


class CosignatureSigner:
    """A witness's Ed25519 cosigning key under its name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.verifier = CosignatureVerifier(name, public_raw(private_key))
        self.name = name

    def vkey(self) -> str:
        """The verifier key partners put in their witness policy."""
        return self.verifier.vkey()

    def cosign(self, checkpoint_body: str, timestamp: int) -> str:
        """Return the signature line (with its newline) cosigning ``checkpoint_body`` at ``timestamp``."""
        sig = self._key.sign(cosigned_message(checkpoint_body, timestamp))
        payload = self.verifier.key_id + struct.pack(">Q", timestamp) + sig
        return f"— {self.name} {base64.b64encode(payload).decode()}\n"


def add_signature_lines(note: str, lines: list[str]) -> str:
    """Return signed ``note`` with the signature ``lines`` appended, skipping exact duplicates.

    A line for a (name, key ID) the note already carries is not added again, so
    merging the same cosignature twice (or a newer one by the same key) is idempotent.
    """
    if "\n\n" not in note or not note.endswith("\n"):
        raise NoteError("malformed note: no signature block", code="malformed-note")
    present = {_line_key(line) for line in split_signed_note(note)[1]}
    extra = []
    for line in lines:
        line = line if line.endswith("\n") else line + "\n"
        key = _line_key(line.rstrip("\n"))
        if key not in present:
            present.add(key)
            extra.append(line)
    return note + "".join(extra)


def _line_key(line: str) -> tuple[str, str]:
    parts = line.split(" ")
    try:
        return parts[1], base64.b64decode(parts[2], validate=True)[:4].hex()
    except (IndexError, ValueError):
        return line, ""
