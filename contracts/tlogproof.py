"""C2SP ``tlog-proof@v1`` evidence files: parse strictly, encode canonically.

A tlog-proof is text: the header line ``c2sp.org/tlog-proof@v1``, an optional
``extra BASE64`` line, ``index N``, the inclusion proof (one base64 SHA-256
hash a line, leaf's sibling first), an empty line, then the checkpoint signed
note verbatim (its signature lines, cosignatures included). certlife's use of
it — the ``extra`` line holds the exact record bytes — is specified in
``contracts/BUNDLE.md`` §4; :mod:`certlife.contracts.verification.tlogproof`
verifies one.

Parsing checks the envelope only: the header, the lines' syntax, canonical
base64, sizes, and that the checkpoint is a signed note whose text is a
checkpoint body with signature lines of the form ``— NAME SIGNATURE``. The
signatures themselves (and their base64, which for unknown keys must not
matter) are left to the verifier. Every failure is a
:class:`TlogProofError` (``malformed-tlog-proof``) saying what is wrong.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from certlife.contracts.bundle import max_proof_length
from certlife.contracts.errors import ContractError, NoteError
from certlife.contracts.keys import b64decode_strict
from certlife.contracts.notes import MAX_NOTE_SIZE, MAX_SIGNATURES, Checkpoint
from certlife.contracts.records import MAX_RECORD_BYTES

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
#: The first line's prefix shared by every version (what :func:`is_tlog_proof` looks for).
TLOG_PROOF_FAMILY = "c2sp.org/tlog-proof@"
#: The suggested file extension (tlog-proof spec).
TLOG_PROOF_EXTENSION = ".tlog-proof"
#: The most extra data a proof may carry: one record (LOG.md §11.4).
MAX_EXTRA_BYTES = MAX_RECORD_BYTES
#: The largest proof file: header, extra, index, 64 hashes and the checkpoint note, with room.
MAX_TLOG_PROOF_SIZE = 4 << 20

_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})")
_SIG_LINE = re.compile(r"— \S+ \S+")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class TlogProofError(ContractError):
    """A file that is not a well-formed ``c2sp.org/tlog-proof@v1`` (one line says what is wrong)."""

    code = "malformed-tlog-proof"


def _bad(why: str) -> TlogProofError:
    return TlogProofError(f"malformed tlog-proof: {why}")


def is_tlog_proof(data: bytes) -> bool:
    """True if the first line names a tlog-proof (any version: the parser then says which it reads)."""
    return data.startswith(TLOG_PROOF_FAMILY.encode())


@dataclass(frozen=True)
class TlogProof:
    """A parsed tlog-proof (nothing in it verified yet).

    ``checkpoint`` is the signed note verbatim and ``parsed`` its (unverified)
    body; ``extra`` is the decoded extra data, or None when the line is absent.
    """

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    @property
    def parsed(self) -> Checkpoint:
        """The checkpoint body as the note states it (unverified)."""
        return Checkpoint.parse(self.checkpoint[: self.checkpoint.rfind("\n\n") + 1])

    def to_text(self) -> str:
        """Return the proof file's text (the checkpoint note ends it, with its final newline)."""
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append(f"extra {base64.b64encode(self.extra).decode()}")
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode() for h in self.proof)
        return "".join(line + "\n" for line in lines) + "\n" + self.checkpoint

    def to_bytes(self) -> bytes:
        """Return the proof file's bytes (UTF-8)."""
        return self.to_text().encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        """Parse a proof file strictly; raise :class:`TlogProofError` (``malformed-tlog-proof``).

        Sizes are bounded before anything is decoded: the file
        (``MAX_TLOG_PROOF_SIZE``), the extra data (``MAX_EXTRA_BYTES``), the
        proof (:func:`max_proof_length` of the checkpoint's size) and the note
        (``MAX_NOTE_SIZE``, ``MAX_SIGNATURES`` signature lines).
        """
        if len(data) > MAX_TLOG_PROOF_SIZE:
            raise _bad(f"larger than {MAX_TLOG_PROOF_SIZE} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("not UTF-8 text") from None
        head, blank, note = text.partition("\n\n")
        if not blank:
            raise _bad("no empty line before the checkpoint")
        lines = head.split("\n")
        if lines[0] != TLOG_PROOF_HEADER:
            first = lines[0][:80]
            raise _bad(f"the first line is {first!r}, not {TLOG_PROOF_HEADER!r}")
        position = 1
        extra = None
        if len(lines) > 1 and lines[1].startswith("extra "):
            extra = _extra(lines[1][len("extra ") :])
            position = 2
        if len(lines) <= position:
            raise _bad("no index line")
        match = _INDEX.fullmatch(lines[position])
        if match is None:
            found = lines[position][:80]
            raise _bad(f"line {position + 1} must be 'index N' (decimal, no leading zeros): {found!r}")
        index = int(match[1])
        checkpoint = _checkpoint(note)
        if index >= checkpoint.size:
            raise _bad(f"index {index} is not below the checkpoint's tree size {checkpoint.size}")
        hashes = lines[position + 1 :]
        most = max_proof_length(checkpoint.size)
        if len(hashes) > most:
            raise _bad(
                f"{len(hashes)} proof hashes; a proof in a tree of {checkpoint.size} has at most {most}"
            )
        return cls(index, tuple(_hash(h, position + 2 + n) for n, h in enumerate(hashes)), note, extra)


def _extra(encoded: str) -> bytes:
    most = 4 * -(-MAX_EXTRA_BYTES // 3)
    if len(encoded) > most:
        raise _bad(f"the extra data is longer than {MAX_EXTRA_BYTES} bytes (the record limit)")
    try:
        raw = b64decode_strict(encoded)
    except ValueError as exc:
        raise _bad(f"extra: {exc}") from None
    if len(raw) > MAX_EXTRA_BYTES:
        raise _bad(f"the extra data is longer than {MAX_EXTRA_BYTES} bytes (the record limit)")
    return raw


def _hash(line: str, number: int) -> bytes:
    try:
        raw = b64decode_strict(line)
    except ValueError as exc:
        raise _bad(f"line {number}: proof hash: {exc}") from None
    if len(raw) != 32:
        raise _bad(f"line {number}: proof hash of {len(raw)} bytes, not 32")
    return raw


def _checkpoint(note: str) -> Checkpoint:
    # The signed note's shape only: body, empty line, signature lines; no signature decoded.
    if len(note) > MAX_NOTE_SIZE:
        raise _bad(f"the checkpoint note is larger than {MAX_NOTE_SIZE} bytes")
    if not note.endswith("\n"):
        raise _bad("the checkpoint note does not end in a newline")
    if _CONTROL.search(note) or _SURROGATE.search(note):
        raise _bad("control character in the checkpoint note")
    split = note.rfind("\n\n")
    if split < 0:
        raise _bad("the checkpoint note has no empty line before its signatures")
    signatures = note[split + 2 : -1].split("\n")
    if len(signatures) > MAX_SIGNATURES:
        raise _bad(f"more than {MAX_SIGNATURES} signature lines")
    for line in signatures:
        if not _SIG_LINE.fullmatch(line):
            raise _bad(f"bad checkpoint signature line {line[:80]!r}")
    try:
        return Checkpoint.parse(note[: split + 1])
    except NoteError as exc:
        raise _bad(str(exc)) from None
