"""The sequential log checks, in order, over the facts of each input record.

For every record: 1 canonical, 2 origin, 3 index (gaps, repeats,
equivocation), 4 key in force at the index, 5 signature, 6 chain and
7 transition (certificate records) or key record (rotations, compromises),
8 Merkle tree against every checkpoint of that size. At the end, a
checkpoint larger than the log means the log was truncated below it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable

from contracts.merkle import MerkleFrontier
from contracts.trust import KeyRing, TrustFile
from contracts.verification.chains import CertificateChains
from contracts.verification.checkpoints import CheckpointChain, CheckpointInput, VerifiedCheckpoint
from contracts.verification.facts import RecordFacts, announced_key
from contracts.verification.failures import Check, Where, fail
from contracts.verification.keyuse import KeyUse
from contracts.verification.report import VerificationReport

SIGNATURE_MODES = ("all", "checkpoints")


class LogVerifier:
    """Checks record facts in log order against a trust file and verified checkpoints.

    ``signatures="checkpoints"`` skips the signatures of certificate records
    (their integrity then rests on the Merkle roots of signed checkpoints);
    key records are always signature-checked, since they change what is trusted.
    """

    def __init__(self, trust: TrustFile, *, signatures: str = "all", watch: Collection[str] = ()) -> None:
        if signatures not in SIGNATURE_MODES:
            raise ValueError(f"signatures must be one of {SIGNATURE_MODES}")
        self.origin = trust.origin
        self.check_all = signatures == "all"
        self.report = VerificationReport(trust.origin, signatures)
        self.checks = self.report.checks
        self.keys = KeyUse(KeyRing(trust))
        #: keyId -> public key for parallel signature checks; replaced, never mutated.
        self.directory: dict[str, bytes] = {k.key_id: k.public_raw for k in trust.record_keys}
        self.chains = CertificateChains(watch)
        self._frontier = MerkleFrontier()
        self._leaves = bytearray()
        self._last_time: str | None = None
        self._chain = CheckpointChain(self.keys.ring.note_verifiers(), self.origin, self.checks)
        self._pending: deque[VerifiedCheckpoint] = deque()

    @property
    def size(self) -> int:
        """Number of distinct records accepted so far (the next expected index)."""
        return self._frontier.size

    def add_checkpoints(
        self, notes: Iterable[CheckpointInput], known: VerifiedCheckpoint | None = None
    ) -> None:
        """Verify the source's signed checkpoints (and one seen before) and queue their roots."""
        new = self._chain.add(notes)
        added = None if known is None else self._chain.add_known(known)
        self._queue(new if added is None else [*new, added])

    def extend_checkpoints(self, notes: Iterable[CheckpointInput]) -> None:
        """Verify checkpoints that arrived later, continuing the order checks."""
        self._queue(self._chain.add(notes))

    def pending_checkpoints(self) -> list[VerifiedCheckpoint]:
        """Verified checkpoints whose root the log has not reached yet, by size."""
        return list(self._pending)

    def _queue(self, new: list[VerifiedCheckpoint]) -> None:
        self.report.checkpoints = self._chain.verified()
        for cp in new:
            if cp.size > self.size:
                self._pending.append(cp)
            else:  # the log is already past it: rebuild that root from the kept leaf hashes
                frontier = MerkleFrontier()
                for at in range(0, 32 * cp.size, 32):
                    frontier.append(bytes(self._leaves[at : at + 32]))
                cp.time = self._last_time if cp.size == self.size else None
                self._check_root(cp, frontier.root(), None)
        self._pending = deque(sorted(self._pending, key=lambda c: c.size))

    def announce(self, raw: bytes) -> bool:
        """Learn a key a rotation record introduces, for checks dispatched after it."""
        found = announced_key(raw)
        if found is None or found[0] in self.directory:
            return False
        self.directory = {**self.directory, found[0]: found[1]}
        return True

    def feed(self, f: RecordFacts) -> None:
        """Run the sequential checks on the next input record's facts."""
        self.report.inputs += 1
        # Step 1: canonical, well-formed record.
        if f.error is not None:
            raise fail(f.error[0], f.error[1], position=f.position)
        self.checks[Check.CANONICAL] += 1
        # Step 2: a record of the trusted log.
        if f.origin != self.origin:
            raise fail(
                "wrong-origin",
                f"origin {f.origin!r} is not the trusted origin {self.origin!r}",
                index=f.log_index,
                certificate=f.number,
                position=f.position,
            )
        self.checks[Check.ORIGIN] += 1
        # Step 3: the next index, or an exact repeat of an earlier one.
        if self._repeated(f):
            return
        self.checks[Check.INDEX] += 1
        # Steps 4-5: key in force, signature.
        self._authenticate(f)
        # Steps 6-7: per-certificate chain and transition, or key record.
        if f.kind == "certificate":
            self.chains.check(f, self.checks)
        else:
            self.keys.apply(f, self.checks)
        # Step 8: Merkle tree.
        self._frontier.append(f.leaf)
        self._leaves += f.leaf
        self._last_time = f.recorded_at
        self.report.records = self._frontier.size
        while self._pending and self._pending[0].size == self.size:
            cp = self._pending.popleft()
            cp.time = f.recorded_at
            self._check_root(cp, self._frontier.root(), f)

    def _repeated(self, f: RecordFacts) -> bool:
        expected = self._frontier.size
        if f.log_index == expected:
            return False
        if f.log_index > expected:
            raise fail(
                "index-gap",
                f"index {f.log_index} where {expected} was expected: records missing or out of order",
                index=f.log_index,
                certificate=f.number,
                position=f.position,
            )
        if self._leaves[32 * f.log_index : 32 * f.log_index + 32] == f.leaf:
            self.report.add_duplicate(f.log_index, f.position)
            return True
        signed = {True: "verifies", False: "does not verify", None: "was not checked"}[f.sig_ok]
        raise fail(
            "equivocation",
            f"a second, different record with index {f.log_index} (its signature {signed})",
            index=f.log_index,
            certificate=f.number,
            position=f.position,
        )

    def _authenticate(self, f: RecordFacts) -> None:
        key = self.keys.key_in_force(f)
        self.checks[Check.KEY] += 1
        if self.check_all or f.kind == "key":
            where: Where = {"index": f.log_index, "certificate": f.number, "position": f.position}
            if self.directory.get(f.key_id) != key.public_raw:
                raise fail("key-conflict", f"two different public keys have keyId {f.key_id}", **where)
            if f.sig_ok is not True:
                why = "does not verify" if f.sig_ok is False else "could not be checked"
                raise fail("bad-signature", f"signature by key {f.key_id} {why}", **where)
            self.checks[Check.SIGNATURE] += 1
        self.keys.signed(f.key_id, f.log_index)

    def _check_root(self, cp: VerifiedCheckpoint, root: bytes, f: RecordFacts | None) -> None:
        if root != cp.root:
            raise fail(
                "root-mismatch",
                f"the log's first {cp.size} records do not hash to the checkpoint's root",
                index=None if f is None else f.log_index,
                certificate=None if f is None else f.number,
                position=None if f is None else f.position,
                checkpoint=cp.size,
            )
        self.checks[Check.CHECKPOINT_ROOT] += 1

    def finish(self) -> VerificationReport:
        """Final step: no checkpoint beyond the log's end; count unanchored records."""
        size = self._frontier.size
        self.report.records = size
        if self._pending:
            cp = self._pending[0]
            raise fail(
                "log-truncated",
                f"log truncated below checkpoint: checkpoint of size {cp.size}, log of {size} records",
                index=size,
                checkpoint=cp.size,
            )
        latest = self.report.latest_checkpoint
        self.report.unanchored = size - (latest.size if latest else 0)
        self.report.watched = self.chains.latest
        return self.report
