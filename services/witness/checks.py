"""The witness's decision on one add-checkpoint request, in the order C2SP tlog-witness lists its checks.

1. The body is a well-formed request and its note a checkpoint (else 400).
2. The origin is one the witness is configured for (else 404).
3. A trusted key of that origin signed the note, and no trusted key's signature
   fails (else 403); signatures by unknown keys are ignored.
4. The old size is at most the checkpoint size (else 400); a checkpoint of size
   zero has the empty tree's root (else 422).
5. Under the log's row lock: the old size is the size the witness last cosigned
   (else 409 with that size); the consistency proof from its recorded root to
   the new root verifies (else 422; an empty proof from size zero, and equal
   roots for equal sizes).
6. The new state is committed, then the cosignature is handed out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from certlife.contracts.cosignature import CosignatureSigner
from certlife.contracts.errors import NoteError, ProofError
from certlife.contracts.merkle import EMPTY_ROOT, verify_consistency
from certlife.contracts.notes import Checkpoint, NoteVerifier, open_checkpoint_note
from certlife.contracts.witness import AddCheckpoint, WitnessProtocolError, parse_add_checkpoint
from certlife.domain.errors import CertlifeError
from certlife.services.witness.store import LogState, WitnessStore

log = logging.getLogger("certlife.witness")

BAD_REQUEST, FORBIDDEN, NOT_FOUND, CONFLICT, UNPROCESSABLE = 400, 403, 404, 409, 422


class Refusal(CertlifeError, code="witness-refusal"):
    """A request the witness refuses: the HTTP status, the reason, and for 409 the witness's size."""

    def __init__(self, status: int, reason: str, *, size: int | None = None) -> None:
        """``size``: the latest cosigned size a 409 answer carries."""
        super().__init__(reason)
        self.status = status
        self.size = size


class Witness:
    """Checks add-checkpoint requests against the stored state and cosigns the ones that pass."""

    def __init__(
        self, store: WitnessStore, signer: CosignatureSigner, clock: Callable[[], float] = time.time
    ) -> None:
        """Cosign with ``signer``; ``clock`` gives the cosignature timestamps (POSIX seconds)."""
        self.store = store
        self.signer = signer
        self.clock = clock

    async def add_checkpoint(self, body: bytes) -> str:
        """Return the cosignature line(s) for the request ``body``, or raise :class:`Refusal`."""
        try:
            request = parse_add_checkpoint(body)
        except WitnessProtocolError as exc:
            raise Refusal(BAD_REQUEST, str(exc)) from None
        text, checkpoint = _checkpoint(request.note)
        state = await self.store.log(checkpoint.origin)
        if state is None:
            raise Refusal(NOT_FOUND, f"unknown log origin {checkpoint.origin[:100]!r}")
        _check_signature(request.note, state)
        if request.old_size > checkpoint.size:
            raise Refusal(BAD_REQUEST, f"old size {request.old_size} above checkpoint size {checkpoint.size}")
        if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
            raise Refusal(UNPROCESSABLE, "a checkpoint of size 0 must have the empty tree's root")

        def decide(current: LogState) -> tuple[str, str]:
            _check_consistency(request, checkpoint, current)
            timestamp = max(int(self.clock()), 1)
            return request.note, self.signer.cosign(text, timestamp)

        lines = await self.store.advance(checkpoint.origin, checkpoint.size, checkpoint.root_hash, decide)
        log.info("cosigned %s at size %d (old size %d)", checkpoint.origin, checkpoint.size, request.old_size)
        return lines


def _checkpoint(note: str) -> tuple[str, Checkpoint]:
    """The note's text and the checkpoint it holds (400 when either is malformed)."""
    end = note.rfind("\n\n")
    if end < 0:
        raise Refusal(BAD_REQUEST, "malformed note: no blank line before the signatures")
    text = note[: end + 1]
    try:
        return text, Checkpoint.parse(text)
    except NoteError as exc:
        raise Refusal(BAD_REQUEST, str(exc)) from None


def _check_signature(note: str, state: LogState) -> None:
    """A trusted key of the log signed ``note`` (403 otherwise; 400 for a malformed note)."""
    try:
        open_checkpoint_note(note, [NoteVerifier.from_string(v) for v in state.vkeys])
    except NoteError as exc:
        if exc.code in ("bad-signature", "unverified-note"):
            raise Refusal(FORBIDDEN, str(exc)) from None
        raise Refusal(BAD_REQUEST, str(exc)) from None


def _check_consistency(request: AddCheckpoint, checkpoint: Checkpoint, current: LogState) -> None:
    """The request extends what the witness last cosigned (409 / 422 otherwise)."""
    if request.old_size != current.size:
        raise Refusal(
            CONFLICT,
            f"old size {request.old_size} is not the latest cosigned size {current.size}",
            size=current.size,
        )
    if request.old_size == 0:
        if request.proof:
            raise Refusal(UNPROCESSABLE, "a consistency proof from size 0 must be empty")
        return
    try:
        verify_consistency(
            current.size, checkpoint.size, current.root_hash, checkpoint.root_hash, request.proof
        )
    except ProofError as exc:
        raise Refusal(UNPROCESSABLE, str(exc)) from None
