"""The operator's witness file: which witnesses the log asks for cosignatures, and where.

The file is C2SP tlog-policy text (``certlife.contracts.policy``); each
``witness NAME VKEY URL`` line is a witness to ask at its submission prefix
``URL``. Witness lines without a URL, ``log``, ``group`` and ``quorum`` lines are
allowed (the same file can be a partner's policy) and ignored here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from certlife.contracts.cosignature import CosignatureVerifier
from certlife.contracts.errors import ContractError
from certlife.contracts.notes import Checkpoint, split_signed_note
from certlife.contracts.policy import WitnessPolicy
from certlife.domain.errors import CertlifeError


@dataclass(frozen=True)
class Witness:
    """A witness to ask: its name (in the file), cosigning key and submission prefix (URL)."""

    name: str
    verifier: CosignatureVerifier
    url: str


class WitnessFileError(CertlifeError, code="witness-file"):
    """The witness file cannot be read or parsed, or names no witness to ask (one line)."""


def parse_witnesses(text: str, source: str = "witness file") -> list[Witness]:
    """The witnesses with a URL in tlog-policy ``text``, in file order."""
    try:
        policy = WitnessPolicy.parse(text)
    except ContractError as exc:
        raise WitnessFileError(f"{source}: {exc}") from None
    found = [Witness(w.name, w.verifier, w.url) for w in policy.witnesses.values() if w.url is not None]
    if not found:
        raise WitnessFileError(f"{source}: no 'witness NAME VKEY URL' line with a URL to ask")
    for witness in found:
        if not witness.url.startswith(("http://", "https://")):
            raise WitnessFileError(f"{source}: witness {witness.name}: URL {witness.url!r} is not http(s)")
    return found


def read_witnesses(path: Path) -> list[Witness]:
    """The witnesses to ask, from the file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WitnessFileError(f"{path}: cannot read the witness file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise WitnessFileError(f"{path}: the witness file is not UTF-8") from None
    return parse_witnesses(text, str(path))


def valid_cosignatures(witness: Witness, checkpoint: Checkpoint, lines: Sequence[str]) -> list[str]:
    """The ``lines`` that are valid cosignatures of ``checkpoint`` by ``witness`` (with newlines).

    Lines of other keys are ignored (C2SP tlog-witness: the client ignores
    unknown keys); a line of this witness's key that does not verify is dropped.
    """
    body, key_id, valid = checkpoint.body(), witness.verifier.key_id, []
    for line in lines:
        parts = line.rstrip("\n").split(" ")
        if len(parts) != 3 or parts[0] != "—" or parts[1] != witness.verifier.name:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
            if raw[:4] != key_id:
                continue  # another key of that name: not ours to check
            witness.verifier.verify(body, raw)
        except (binascii.Error, ValueError, ContractError):
            continue
        valid.append(line.rstrip("\n") + "\n")
    return valid


def note_body(note: str) -> str:
    """The text of a signed note (through the line before its blank line)."""
    return split_signed_note(note)[0]


def signature_lines(note: str) -> list[str]:
    """The signature lines of a signed note, without newlines."""
    return split_signed_note(note)[1]
