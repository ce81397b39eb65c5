"""A log verifier's record state, kept so that a later run resumes verification where it stood.

:meth:`LogVerifier.snapshot <certlife.contracts.verification.LogVerifier.snapshot>`
returns it, :meth:`LogVerifier.restore <certlife.contracts.verification.LogVerifier.restore>`
brings a fresh verifier to it. It holds what the record checks carry from one
record to the next — the tree's leaf hashes, every certificate's chain entry,
the key ring and the runs each key signed, the credential keys and status list
commitments, the time of the last record — and
nothing of the checkpoints: after a restore the caller gives the verifier the
checkpoint it stood at again, whose signature and root are then checked anew.
How a caller stores it is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from certlife.contracts.trust import TrustedKey
from certlife.contracts.verification.commitments import StatusListCommitment


@dataclass(frozen=True)
class VerifierState:
    """The state of a :class:`~certlife.contracts.verification.LogVerifier` after its last accepted record."""

    #: The 32-byte Merkle leaf hashes of the records accepted, in index order.
    leaves: bytes
    #: Certificate number -> its ``ENTRY``-packed chain entry (``certlife.contracts.verification.codes``).
    chains: dict[str, bytes]
    #: Every record key as the key records seen so far left it.
    keys: tuple[TrustedKey, ...]
    #: keyId -> the ``[start, stop)`` runs of indexes the key signed, in order.
    runs: dict[str, list[list[int]]]
    #: ``recordedAt`` of the last record accepted (None: none yet).
    last_time: str | None
    #: Every credential key as the key records seen so far left it.
    credential_keys: tuple[TrustedKey, ...] = ()
    #: Every status list commitment kept so far.
    statuslists: tuple[StatusListCommitment, ...] = ()

    @property
    def size(self) -> int:
        """Number of records accepted (the next expected index)."""
        return len(self.leaves) // 32
