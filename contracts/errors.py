"""Errors of the wire-contract layer: one hierarchy, each with a machine ``code``.

Every failure to parse or verify something that crossed a process boundary
raises a subclass of :class:`ContractError`, itself a
:class:`~certlife.domain.errors.CertlifeError`. The ``code`` is a short, stable
identifier a CLI or report can use; the message says what exactly failed.
"""

from __future__ import annotations

from certlife.domain.errors import CertlifeError


class ContractError(CertlifeError):
    """Base class of every wire-format, signature, proof and trust failure."""

    code = "contract-error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        """A contract error always has a message; ``code`` overrides the class's."""
        super().__init__(message, code=code)


class CanonicalError(ContractError):
    """Bytes or a value that are not RFC 8785 canonical I-JSON."""

    code = "not-canonical"


class RecordFormatError(ContractError):
    """A verification record whose structure, types or values are wrong."""

    code = "record-format"


class SignatureError(ContractError):
    """A signature that does not verify, or was made by the wrong key."""

    code = "bad-signature"


class ProofError(ContractError):
    """A Merkle inclusion or consistency proof that does not verify."""

    code = "proof"


class NoteError(ContractError):
    """A malformed or unverifiable C2SP signed note or checkpoint."""

    code = "note"


class TrustError(ContractError):
    """A key that is unknown, outside its validity range or compromised."""

    code = "trust"
