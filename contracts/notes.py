"""C2SP signed notes (Ed25519, type 0x01) and tlog checkpoints.

Parse first, then verify: malformed input raises ``NoteError`` ("malformed
note: …") before any signature is looked at. Every signature line must be
``— <name> <base64>`` with a valid key name and base64 that decodes (as
golang.org/x/mod/sumdb/note requires); signatures by unknown keys (name and key
hash not both matching) are then ignored whatever their length or encoding. A
known key's line must be canonical base64 of at least 5 bytes; an invalid
signature by a known key rejects the whole note; a note no known key signs is
rejected. :func:`note_signatures` gives every line, unverified, so that
cosignatures (key type 0x04, never matching a note key) can be checked apart.

This module is the one implementation of verifying a signed checkpoint
(LOG.md §9): :func:`open_checkpoint_note` (step C1: signature and body) and
:func:`check_checkpoint_origin` (step C2), composed by :func:`verify_checkpoint`.
The verifier's checkpoint steps (``certlife.contracts.verification.checkpoints``)
call the same two functions and only turn their errors into failure codes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.errors import NoteError
from certlife.contracts.keys import b64decode_strict, public_raw, verify_ed25519

ED25519_TYPE = b"\x01"
MAX_SIGNATURES = 100
MAX_NOTE_SIZE = 1 << 20
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SIG_LINE = re.compile(r"— (\S+) (\S+)")
#: A lone surrogate: a ``str`` holding one has no UTF-8 encoding to hash or sign.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name) or _SURROGATE.search(name):
        raise NoteError(f"invalid key name {name!r}", code="malformed-note")


def _key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public).digest()[:4]


class NoteSigner:
    """Signs note text with an Ed25519 key under a key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._key = private_key
        self.public_raw = public_raw(private_key)
        self.key_hash = _key_hash(name, self.public_raw)

    def verifier_key(self) -> str:
        """Return the vkey ``name+hexkeyhash+base64(0x01 ‖ pub)``."""
        encoded = base64.b64encode(ED25519_TYPE + self.public_raw).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    def sign(self, text: bytes) -> bytes:
        """Return the raw 64-byte Ed25519 signature of ``text``."""
        return self._key.sign(text)


class NoteVerifier:
    """An Ed25519 verifier key: name, 4-byte key hash and raw public key."""

    def __init__(self, name: str, public: bytes) -> None:
        _check_name(name)
        self.name, self.public_raw = name, public
        self.key_hash = _key_hash(name, public)

    @classmethod
    def from_string(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key string, checking its key hash."""
        parts = vkey.split("+", 2)  # base64 may contain "+", names may not
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteError(f"malformed verifier key: {vkey!r}", code="malformed-vkey")
        try:
            material = b64decode_strict(parts[2])
            _check_name(parts[0])
        except (ValueError, NoteError) as exc:
            raise NoteError(f"malformed verifier key: {exc}", code="malformed-vkey") from None
        if len(material) != 33 or material[:1] != ED25519_TYPE:
            raise NoteError("malformed verifier key: not an Ed25519 key", code="malformed-vkey")
        verifier = cls(parts[0], material[1:])
        if verifier.key_hash.hex() != parts[1]:
            raise NoteError("malformed verifier key: key hash mismatch", code="malformed-vkey")
        return verifier

    def verify(self, text: bytes, sig: bytes) -> bool:
        """Return True if ``sig`` (without key hash) signs ``text``."""
        return verify_ed25519(self.public_raw, sig, text)


@dataclass(frozen=True)
class Note:
    """A verified note: its text and the names of the keys that verified it."""

    text: str
    verified_by: list[str] = field(default_factory=list)


def _malformed(why: str) -> NoteError:
    return NoteError(f"malformed note: {why}", code="malformed-note")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise _malformed("text does not end in a newline")
    if _CONTROL.search(text):
        raise _malformed("control character other than newline")
    if _SURROGATE.search(text):
        raise _malformed("lone surrogate: the text is not valid Unicode")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Return ``text`` signed by every signer as a C2SP signed note."""
    _check_text(text)
    if not signers:
        raise NoteError("a note needs at least one signer")
    message = text.encode()
    lines = [f"— {s.name} {base64.b64encode(s.key_hash + s.sign(message)).decode()}\n" for s in signers]
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class SignatureLine:
    """One signature line of a note, unverified.

    ``payload`` is the decoded base64 (key ID ‖ signature); ``canonical`` is
    False when the base64 text is not the one canonical encoding of it (non-zero
    padding bits), which only a known key's line must be.
    """

    name: str
    payload: bytes
    canonical: bool

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID (shorter only for a line too short to be any key's)."""
        return self.payload[:4]

    @property
    def signature(self) -> bytes:
        """The signature bytes after the key ID."""
        return self.payload[4:]

    def check_known(self) -> None:
        """The strict checks for a line of a known key: canonical base64, 5 bytes or more."""
        if not self.canonical:
            raise _malformed(f"signature of {self.name}: not the canonical base64 encoding")
        if len(self.payload) < 5:
            raise _malformed(f"signature of {self.name} is too short")


def split_signed_note(note: str) -> tuple[str, list[str]]:
    """A signed note's text (through the line before its last blank line) and its signature
    lines without newlines, unparsed and unchecked; ``(note, [])`` when it has no blank line."""
    end = note.rfind("\n\n")
    if end < 0:
        return note, []
    return note[: end + 1], note[end + 2 :].splitlines()


def signature_count(note: str) -> int:
    """How many signature lines a signed note carries (0 without a blank line)."""
    return len(split_signed_note(note)[1])


def note_signatures(note: str) -> tuple[str, list[SignatureLine]]:
    """Split a note into its text and every signature line, unverified (any key)."""
    if len(note) > MAX_NOTE_SIZE:
        raise _malformed("too large")
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line before the signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    lines = sig_block[:-1].split("\n") if sig_block else []
    if not lines:
        raise _malformed("no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(f"more than {MAX_SIGNATURES} signatures")
    sigs = []
    for line in lines:
        match = _SIG_LINE.fullmatch(line)
        if match is None or "+" in match[1]:
            raise _malformed(f"bad signature line {line!r}")
        try:
            raw = base64.b64decode(match[2], validate=True)
        except (binascii.Error, ValueError):
            raise _malformed(f"signature of {match[1]}: not standard padded base64") from None
        sigs.append(SignatureLine(match[1], raw, base64.b64encode(raw).decode("ascii") == match[2]))
    return text, sigs


def parse_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Split a note into text and (name, key hash, signature) triples, unverified."""
    text, lines = note_signatures(note)
    return text, [(line.name, line.key_id, line.signature) for line in lines]


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> Note:
    """Parse and verify a signed note against known verifier keys."""
    text, sigs = note_signatures(note)
    known = {(v.name, v.key_hash): v for v in verifiers}
    for line in sigs:  # parse first: every known key's line is well formed before any verifying
        if (line.name, line.key_id) in known:
            line.check_known()
    message = text.encode()
    verified_by: list[str] = []
    for line in sigs:
        name, verifier = line.name, known.get((line.name, line.key_id))
        if verifier is None:
            continue  # unknown keys are ignored, as the spec requires
        if not verifier.verify(message, line.signature):
            raise NoteError(f"invalid signature by known key {name}", code="bad-signature")
        if name not in verified_by:
            verified_by.append(name)
    if not verified_by:
        raise NoteError("no known key signed the note", code="unverified-note")
    return Note(text=text, verified_by=verified_by)


_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog checkpoint: origin, tree size, root hash (+ extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """Return the note text: origin, size, base64 root, extensions, each + ``\\n``."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body strictly (as produced by :meth:`body`)."""
        if not text.endswith("\n"):
            raise NoteError("malformed checkpoint: no final newline", code="malformed-checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise NoteError(
                "malformed checkpoint: needs three or more non-empty lines",
                code="malformed-checkpoint",
            )
        origin, size_text, root_text = lines[:3]
        if not _SIZE.fullmatch(size_text) or int(size_text) >= 2**64:
            raise NoteError(f"malformed checkpoint: tree size {size_text!r}", code="malformed-checkpoint")
        try:
            root = b64decode_strict(root_text)
        except ValueError as exc:
            raise NoteError(f"malformed checkpoint: root hash: {exc}", code="malformed-checkpoint") from None
        if len(root) != 32:
            raise NoteError("malformed checkpoint: root hash is not 32 bytes", code="malformed-checkpoint")
        return cls(origin, int(size_text), root, tuple(lines[3:]))


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> str:
    """Return ``cp`` as a signed note signed by ``signer``."""
    return sign_note(cp.body(), [signer])


def open_checkpoint_note(note: str, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    """Step C1: ``note`` is a signed note a known key signs, and its text a checkpoint body.

    Raises ``NoteError``: ``malformed-note``/``malformed-checkpoint``,
    ``bad-signature`` (a known key's signature does not verify) or
    ``unverified-note`` (no known key signed it).
    """
    return Checkpoint.parse(open_note(note, verifiers).text)


def check_checkpoint_origin(checkpoint: Checkpoint, origin: str) -> Checkpoint:
    """Step C2: the checkpoint is one of the log ``origin``; raise ``NoteError`` (``wrong-origin``)."""
    if checkpoint.origin != origin:
        raise NoteError(
            f"checkpoint origin {checkpoint.origin!r} is not the trusted origin {origin!r}",
            code="wrong-origin",
        )
    return checkpoint


def verify_checkpoint(note: str, verifiers: Sequence[NoteVerifier], origin: str) -> Checkpoint:
    """Verify a signed checkpoint note (signature, body) and require its origin to be ``origin``."""
    return check_checkpoint_origin(open_checkpoint_note(note, verifiers), origin)
