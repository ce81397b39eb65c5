"""C2SP tlog-witness wire format: the ``add-checkpoint`` request and the conflict answer.

Request body (``POST <prefix>/add-checkpoint``)::

    old <size>\\n                 decimal, no leading zeroes
    <base64 hash>\\n              zero to 63 consistency proof lines (32-byte hashes)
    \\n
    <signed checkpoint note>      text, blank line, signature lines

Answers: 200 with one or more cosignature lines (``— name base64``), 409 with the
witness's current size (``<size>\\n``, content type ``text/x.tlog.size``), and
400/403/404/422 for the refusals the spec lists. Parsing is strict: any deviation
raises :class:`WitnessProtocolError` (``malformed-witness-request`` /
``malformed-witness-response``). The checkpoint note itself is parsed and verified
by :mod:`certlife.contracts.notes`; this module only frames it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from certlife.contracts.errors import ContractError
from certlife.contracts.keys import b64decode_strict

ADD_CHECKPOINT_PATH = "/add-checkpoint"
CONFLICT_CONTENT_TYPE = "text/x.tlog.size"
#: The spec's limit on consistency proof lines a client may send.
MAX_PROOF_LINES = 63
#: Largest request body a witness accepts (a checkpoint note is small; 64 KiB is generous).
MAX_REQUEST_BYTES = 64 * 1024
HASH_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_SIG_LINE = re.compile(r"— \S+ \S+")


class WitnessProtocolError(ContractError):
    """A tlog-witness request or response that does not follow the wire format."""

    code = "malformed-witness-request"


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request: old size, consistency proof, signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


def _size(text: str, what: str, code: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_TREE_SIZE:
        raise WitnessProtocolError(f"{what}: bad tree size {text[:40]!r}", code=code)
    return int(text)


def encode_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """Return the add-checkpoint request body for ``note`` extending the witness's ``old_size``."""
    if not 0 <= old_size <= MAX_TREE_SIZE:
        raise WitnessProtocolError(f"old size {old_size} out of range")
    if len(proof) > MAX_PROOF_LINES or any(len(h) != HASH_SIZE for h in proof):
        raise WitnessProtocolError("a consistency proof is at most 63 hashes of 32 bytes")
    if not note.endswith("\n"):
        raise WitnessProtocolError("a checkpoint note ends with a newline")
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode()


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint request body strictly (the note's own syntax is not checked here)."""
    if len(body) > MAX_REQUEST_BYTES:
        raise WitnessProtocolError(f"request body larger than {MAX_REQUEST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessProtocolError("request body is not UTF-8") from None
    header_end = text.find("\n\n")
    if header_end < 0:
        raise WitnessProtocolError("no empty line between the proof and the checkpoint")
    header, note = text[:header_end].split("\n"), text[header_end + 2 :]
    first = header[0]
    if not first.startswith("old "):
        raise WitnessProtocolError(f"first line is not an old size line: {first[:40]!r}")
    old_size = _size(first[4:], "old size line", WitnessProtocolError.code)
    if len(header) - 1 > MAX_PROOF_LINES:
        raise WitnessProtocolError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in header[1:]:
        try:
            digest = b64decode_strict(line)
        except ValueError as exc:
            raise WitnessProtocolError(f"consistency proof line: {exc}") from None
        if len(digest) != HASH_SIZE:
            raise WitnessProtocolError(f"consistency proof hash of {len(digest)} bytes, expected 32")
        proof.append(digest)
    if not note or not note.endswith("\n"):
        raise WitnessProtocolError("the checkpoint note is empty or does not end with a newline")
    return AddCheckpoint(old_size, tuple(proof), note)


def encode_conflict(size: int) -> bytes:
    """Return the 409 body: the witness's latest cosigned size, in decimal, and a newline."""
    if not 0 <= size <= MAX_TREE_SIZE:
        raise WitnessProtocolError(f"tree size {size} out of range")
    return f"{size}\n".encode()


def parse_conflict(body: bytes) -> int:
    """Parse a 409 body (``<size>\\n``) into the witness's latest cosigned size."""
    code = "malformed-witness-response"
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise WitnessProtocolError("conflict body is not ASCII", code=code) from None
    if not text.endswith("\n"):
        raise WitnessProtocolError("conflict body does not end with a newline", code=code)
    return _size(text[:-1], "conflict body", code)


def parse_cosignature_lines(body: bytes) -> list[str]:
    """Split a 200 answer into its note signature lines (each ``— name base64``, without newline).

    Only the framing is checked here; each line's cosignature is verified by the
    client with :class:`certlife.contracts.cosignature.CosignatureVerifier`.
    """
    code = "malformed-witness-response"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessProtocolError("cosignature answer is not UTF-8", code=code) from None
    if not text.endswith("\n") or text == "\n":
        raise WitnessProtocolError("cosignature answer is empty or lacks its final newline", code=code)
    lines = text[:-1].split("\n")
    for line in lines:
        if not _SIG_LINE.fullmatch(line):
            raise WitnessProtocolError(f"not a signature line: {line[:80]!r}", code=code)
    return lines
