"""Checkpoint steps: signature, origin, claimed size and order of signed checkpoints.

Checkpoints are verified before the records they commit to. Each note is
parsed and must be signed by a known note key; its origin must be the trusted
origin; if the source names a size for it (the export's file name) the note
must hold that size; and in the order given, sizes never shrink and equal
sizes carry equal roots. Whether each root matches the log is checked later,
when the log reaches that size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from certlife.contracts.errors import NoteError
from certlife.contracts.notes import NoteVerifier, check_checkpoint_origin, open_checkpoint_note
from certlife.contracts.verification.failures import Check, fail

#: A checkpoint as read from a source: (size the source claims or None, signed note text).
CheckpointInput = tuple[int | None, str]

_NOTE_CODES = {"bad-signature": "checkpoint-bad-signature", "unverified-note": "checkpoint-unverified"}


@dataclass
class VerifiedCheckpoint:
    """A checkpoint whose signature and origin verified.

    ``time`` is the ``recordedAt`` of record ``size - 1``, filled in when the
    log is replayed (``None`` for an empty tree or before the replay).
    """

    size: int
    root: bytes
    note: str
    time: str | None = None


def open_checkpoint(
    note: str,
    verifiers: Sequence[NoteVerifier],
    origin: str,
    checks: Counter[str],
    claimed: int | None = None,
) -> VerifiedCheckpoint:
    """Steps 1-2 for one note: signature by a known key, then origin.

    Both are :mod:`certlife.contracts.notes`'s (the one checkpoint verifier);
    this step only names their failures and counts the checks.
    """
    # Step 1: the note parses and a known note key signs it.
    try:
        checkpoint = open_checkpoint_note(note, verifiers)
    except NoteError as exc:
        code = _NOTE_CODES.get(exc.code, "checkpoint-malformed")
        raise fail(code, str(exc), checkpoint=claimed) from None
    checks[Check.CHECKPOINT_SIGNATURE] += 1
    # Step 2: it is a checkpoint of the trusted log.
    try:
        check_checkpoint_origin(checkpoint, origin)
    except NoteError as exc:
        raise fail("checkpoint-wrong-origin", str(exc), checkpoint=checkpoint.size) from None
    checks[Check.CHECKPOINT_ORIGIN] += 1
    return VerifiedCheckpoint(checkpoint.size, checkpoint.root_hash, note)


def _check_claimed(cp: VerifiedCheckpoint, claimed: int | None) -> None:
    if claimed is None or claimed == cp.size:
        return
    code = "checkpoint-rollback" if cp.size < claimed else "checkpoint-misfiled"
    raise fail(code, f"checkpoint filed as size {claimed} holds size {cp.size}", checkpoint=claimed)


def _check_order(previous: VerifiedCheckpoint, cp: VerifiedCheckpoint) -> None:
    if cp.size < previous.size:
        raise fail(
            "checkpoint-rollback",
            f"checkpoint of size {cp.size} follows one of size {previous.size}: sizes only grow",
            checkpoint=cp.size,
        )
    if cp.size == previous.size and cp.root != previous.root:
        raise fail("checkpoint-fork", f"two different roots for tree size {cp.size}", checkpoint=cp.size)


class CheckpointChain:
    """Verified checkpoints in the order a source gives them, with the consistency rules.

    ``add`` may be called again as new notes arrive (a mirror following the
    checkpoint topic); it returns the checkpoints not seen before.
    """

    def __init__(self, verifiers: Sequence[NoteVerifier], origin: str, checks: Counter[str]) -> None:
        self._verifiers, self._origin, self._checks = verifiers, origin, checks
        self.latest: VerifiedCheckpoint | None = None
        self.by_size: dict[int, VerifiedCheckpoint] = {}

    def add(self, notes: Iterable[CheckpointInput]) -> list[VerifiedCheckpoint]:
        """Verify notes in the order given; return the new (unique) checkpoints by size."""
        new: dict[int, VerifiedCheckpoint] = {}
        for claimed, note in notes:
            cp = open_checkpoint(note, self._verifiers, self._origin, self._checks, claimed)
            _check_claimed(cp, claimed)
            # Step 3: each later checkpoint is consistent with the one before.
            if self.latest is not None:
                _check_order(self.latest, cp)
                self._checks[Check.CHECKPOINT_CONSISTENCY] += 1
            self.latest = cp
            if cp.size not in self.by_size:
                self.by_size[cp.size] = new[cp.size] = cp
        return sorted(new.values(), key=lambda c: c.size)

    def add_known(self, known: VerifiedCheckpoint) -> VerifiedCheckpoint | None:
        """Apply a checkpoint seen before: not newer than the source's newest; return it if new."""
        newest = self.latest
        if newest is None or newest.size < known.size:
            have = "no checkpoint" if newest is None else f"a newest checkpoint of size {newest.size}"
            raise fail(
                "checkpoint-rollback",
                f"the source has {have}, below the known checkpoint of size {known.size}",
                checkpoint=known.size,
            )
        self._checks[Check.CHECKPOINT_CONSISTENCY] += 1
        same = self.by_size.get(known.size)
        if same is not None:
            if same.root != known.root:
                raise fail(
                    "checkpoint-fork",
                    f"two different roots for tree size {known.size}",
                    checkpoint=known.size,
                )
            return None
        self.by_size[known.size] = known
        return known

    def verified(self) -> list[VerifiedCheckpoint]:
        """Every verified checkpoint, by size."""
        return [self.by_size[size] for size in sorted(self.by_size)]
