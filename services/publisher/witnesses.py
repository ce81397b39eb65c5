"""The operator's witness file: which witnesses the log asks for cosignatures, and where.

The file is C2SP tlog-policy text (``certlife.contracts.policy``); each
``witness NAME VKEY URL`` line is a witness to ask at its submission prefix
``URL``. Witness lines without a URL, ``log``, ``group`` and ``quorum`` lines are
allowed (the same file can be a partner's policy) and ignored here.
"""

from __future__ import annotations

from pathlib import Path

from certlife.contracts.errors import ContractError
from certlife.contracts.policy import WitnessPolicy
from certlife.domain.errors import CertlifeError
from certlife.services.publisher.cosigner import Witness


class WitnessFileError(CertlifeError, code="witness-file"):
    """The witness file cannot be read or parsed, or names no witness to ask (one line)."""


def parse_witnesses(text: str, source: str = "witness file") -> list[Witness]:
    """The witnesses with a URL in tlog-policy ``text``, in file order."""
    try:
        policy = WitnessPolicy.parse(text)
    except ContractError as exc:
        raise WitnessFileError(f"{source}: {exc}") from None
    found = [Witness(w.name, w.verifier, w.url) for w in policy.witnesses.values() if w.url]
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
