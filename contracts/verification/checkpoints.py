"""Checkpoint steps: signature, origin, claimed size and order of signed checkpoints.

Checkpoints are verified before the records they commit to. Each note is
parsed and must be signed by a known note key; its origin must be the trusted
origin; if the source names a size for it (the export's file name) the note
must hold that size; and in the order given, sizes never shrink and equal
sizes carry equal roots. Whether each root matches the log is checked later,
when the log reaches that size.

A copy of a checkpoint seen before (same size, same root) that carries
signature lines not seen yet (cosigned later) is merged into it, wherever it
comes in the order. With a witness policy (LOG.md §9.6) each checkpoint's
cosignatures are evaluated (merged copies: the union of the valid ones); only
a checkpoint meeting the quorum anchors records. One that does not passes the
steps above and is otherwise set aside: its root is not compared with the log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from certlife.contracts.cosignature import add_signature_lines
from certlife.contracts.errors import NoteError
from certlife.contracts.notes import (
    NoteVerifier,
    check_checkpoint_origin,
    open_checkpoint_note,
    split_signed_note,
)
from certlife.contracts.policy import WitnessPolicy
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
    #: With a witness policy: valid cosignatures, policy witness name -> timestamp (else None).
    cosignatures: dict[str, int] | None = None
    #: With a witness policy: witnesses whose cosignature line did not verify (not counted).
    invalid_cosigners: list[str] = field(default_factory=list)
    #: False when a witness policy is in force and the cosignatures do not meet its quorum.
    anchors: bool = True

    @property
    def cosigned_by(self) -> tuple[str, ...]:
        """The policy names of the witnesses with a valid cosignature."""
        return tuple(self.cosignatures or ())


def witness_checkpoint(cp: VerifiedCheckpoint, note: str, policy: WitnessPolicy) -> None:
    """Step 4 (with a witness policy): add the valid cosignatures of ``note`` and decide the quorum.

    ``note`` is ``cp``'s note or a copy of it (same body); the cosignatures
    of every copy add up, an invalid one never counts.
    """
    result = policy.evaluate(note)
    valid = cp.cosignatures if cp.cosignatures is not None else {}
    for name, timestamp in zip(result.cosigned_by, result.timestamps, strict=True):
        valid.setdefault(name, timestamp)
    cp.cosignatures = valid
    invalid = [*cp.invalid_cosigners, *result.invalid]
    cp.invalid_cosigners = [name for name in dict.fromkeys(invalid) if name not in valid]
    cp.anchors = policy.witnessed(policy.quorum, set(valid))


def quorum_failure(policy: WitnessPolicy, newest: VerifiedCheckpoint) -> str:
    """Why no checkpoint anchors: what the quorum needs and who cosigned the newest checkpoint."""
    who = ", ".join(newest.cosigned_by) or "no witness of the policy"
    bad = (
        f"; invalid cosignature by {', '.join(newest.invalid_cosigners)}" if newest.invalid_cosigners else ""
    )
    return (
        f"no checkpoint meets the witness quorum {policy.describe_quorum()}: "
        f"the newest, of size {newest.size}, is cosigned by {who}{bad}"
    )


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
    checkpoint topic); it returns the checkpoints that anchor records and did
    not before (new ones, or ones a merged copy brought to the quorum).
    ``by_size`` holds the anchoring checkpoints, ``seen`` every one.
    """

    def __init__(
        self,
        verifiers: Sequence[NoteVerifier],
        origin: str,
        checks: Counter[str],
        policy: WitnessPolicy | None = None,
    ) -> None:
        self._verifiers, self._origin, self._checks = verifiers, origin, checks
        self.policy = policy
        self.latest: VerifiedCheckpoint | None = None
        self.by_size: dict[int, VerifiedCheckpoint] = {}
        self.seen: dict[int, VerifiedCheckpoint] = {}
        self._lines: dict[int, set[str]] = {}  # signature lines seen for each size

    def add(self, notes: Iterable[CheckpointInput]) -> list[VerifiedCheckpoint]:
        """Verify notes in the order given; return the newly anchoring checkpoints by size."""
        new: dict[int, VerifiedCheckpoint] = {}
        for claimed, note in notes:
            cp = open_checkpoint(note, self._verifiers, self._origin, self._checks, claimed)
            _check_claimed(cp, claimed)
            seen = self.seen.get(cp.size)
            if seen is not None and self._merge(seen, cp):
                self._anchor(seen, new)
                continue
            # Step 3: each later checkpoint is consistent with the one before.
            if self.latest is not None:
                _check_order(self.latest, cp)
                self._checks[Check.CHECKPOINT_CONSISTENCY] += 1
            self.latest = cp
            if seen is None:
                self.seen[cp.size] = cp
                self._lines[cp.size] = set(split_signed_note(note)[1])
                if self.policy is not None:
                    witness_checkpoint(cp, note, self.policy)
                self._anchor(cp, new)
        return sorted(new.values(), key=lambda c: c.size)

    def _merge(self, seen: VerifiedCheckpoint, copy: VerifiedCheckpoint) -> bool:
        """Step 3 for a copy of a size seen before: with new signature lines, merge it (True)."""
        lines = set(split_signed_note(copy.note)[1])
        if lines <= self._lines[seen.size]:
            return False  # a plain repeat: the order rule decides
        if seen.root != copy.root:
            raise fail(
                "checkpoint-fork", f"two different roots for tree size {seen.size}", checkpoint=seen.size
            )
        self._checks[Check.CHECKPOINT_CONSISTENCY] += 1
        self._lines[seen.size] |= lines
        seen.note = add_signature_lines(seen.note, sorted(lines))
        if self.policy is not None:
            witness_checkpoint(seen, copy.note, self.policy)
        return True

    def _anchor(self, cp: VerifiedCheckpoint, new: dict[int, VerifiedCheckpoint]) -> None:
        if cp.anchors and cp.size not in self.by_size:
            if self.policy is not None:
                self._checks[Check.CHECKPOINT_WITNESSES] += 1
            self.by_size[cp.size] = new[cp.size] = cp

    def unwitnessed(self) -> list[VerifiedCheckpoint]:
        """Checkpoints seen that do not meet the witness quorum (so anchor nothing), by size."""
        return [self.seen[size] for size in sorted(self.seen) if not self.seen[size].anchors]

    def require_quorum(self) -> None:
        """Fail ``checkpoint-quorum`` when a policy is in force and no checkpoint seen meets it."""
        if self.policy is None or self.latest is None or any(cp.anchors for cp in self.seen.values()):
            return
        raise fail("checkpoint-quorum", quorum_failure(self.policy, self.latest), checkpoint=self.latest.size)

    def add_known(self, known: VerifiedCheckpoint) -> VerifiedCheckpoint | None:
        """Apply a checkpoint seen before: not newer than the source's newest; return it if new.

        The caller vouches for it, so it anchors whether or not it meets the witness quorum.
        """
        newest = self.latest
        if newest is None or newest.size < known.size:
            have = "no checkpoint" if newest is None else f"a newest checkpoint of size {newest.size}"
            raise fail(
                "checkpoint-rollback",
                f"the source has {have}, below the known checkpoint of size {known.size}",
                checkpoint=known.size,
            )
        self._checks[Check.CHECKPOINT_CONSISTENCY] += 1
        same = self.seen.get(known.size)
        if same is not None:
            if same.root != known.root:
                raise fail(
                    "checkpoint-fork",
                    f"two different roots for tree size {known.size}",
                    checkpoint=known.size,
                )
            if same.anchors:
                return None
            same.anchors = True
            self.by_size[known.size] = same
            return same
        self.seen[known.size] = self.by_size[known.size] = known
        return known

    def verified(self) -> list[VerifiedCheckpoint]:
        """Every verified checkpoint that anchors records, by size."""
        return [self.by_size[size] for size in sorted(self.by_size)]
