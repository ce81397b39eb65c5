"""The sequential log checks, in order, over the facts of each input record.

For every record: 1 canonical, 2 origin, 3 index (gaps, repeats,
equivocation), 4 key in force at the index, 5 signature, 6 chain and
7 transition (certificate records) or key record (rotations, compromises),
8 Merkle tree against every checkpoint of that size. Key records also
move the credential keys, and ``statuslist`` records' commitments are kept
(:attr:`LogVerifier.credentials`). At the end, a
checkpoint larger than the log means the log was truncated below it.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from functools import partial
from typing import cast

from certlife.contracts.merkle import MerkleFrontier
from certlife.contracts.records import parse_record
from certlife.contracts.trust import KeyRing, TrustedKey, TrustFile
from certlife.contracts.verification.chains import CertificateChains
from certlife.contracts.verification.checkpoints import CheckpointChain, CheckpointInput, VerifiedCheckpoint
from certlife.contracts.verification.codes import LEGAL, LINK_SIZE, NO_ENTRY, ROW_VIEW
from certlife.contracts.verification.commitments import CredentialState, StatusListCommitment
from certlife.contracts.verification.facts import (
    Facts,
    FastRun,
    RecordFacts,
    announced_key,
    group_runs,
    record_facts,
)
from certlife.contracts.verification.failures import Check, Where, fail
from certlife.contracts.verification.keyuse import KeyUse
from certlife.contracts.verification.report import VerificationReport
from certlife.contracts.verification.state import VerifierState

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
        #: Status list commitments by SHA-256 hex (the first record committing the bytes).
        self._lists: dict[str, StatusListCommitment] = {}
        self._frontier = MerkleFrontier()
        self._leaves = bytearray()
        self._last_time: str | None = None
        self.policy = trust.policy
        self._chain = CheckpointChain(self.keys.ring.note_verifiers(), self.origin, self.checks, self.policy)
        if self.policy is not None:
            self.report.witness_quorum = self.policy.describe_quorum()
        self._pending: deque[VerifiedCheckpoint] = deque()
        #: (keyId, first index it no longer covers) of the key that last passed step 4 for a
        #: certificate record; forgotten whenever a key record changes the ring.
        self._fast_key: tuple[str, int] | None = None
        fast = [Check.CANONICAL, Check.ORIGIN, Check.INDEX, Check.KEY, Check.CHAIN, Check.TRANSITION]
        self._fast_checks = [*fast, Check.SIGNATURE] if self.check_all else fast

    @property
    def size(self) -> int:
        """Number of distinct records accepted so far (the next expected index)."""
        return self._frontier.size

    @property
    def credentials(self) -> CredentialState:
        """Credential keys and status list commitments as the records accepted so far leave them."""
        return CredentialState(self.keys.ring.credentials, self._lists)

    def snapshot(self) -> VerifierState:
        """The state the record checks carry from record to record (a copy), for :meth:`restore` later."""
        keys = tuple(self.keys.ring.trusted_keys())
        return VerifierState(
            bytes(self._leaves),
            dict(self.chains.state),
            keys,
            self.keys.runs(),
            self._last_time,
            tuple(self.keys.ring.credentials.trusted_keys()),
            tuple(self._lists.values()),
        )

    def restore(self, state: VerifierState) -> None:
        """Bring this fresh verifier (no record, no checkpoint yet) to ``state`` from :meth:`snapshot`.

        Keys in ``state`` replace the trust file's of the same keyId. Checkpoints
        are not part of the state: add the one ``state`` stood at again
        (:meth:`add_checkpoints`), so that its signature and root are checked.
        """
        if self.size or self.report.inputs or self.report.checkpoints or len(state.leaves) % 32:
            raise ValueError("restore needs a fresh verifier and whole 32-byte leaf hashes")
        leaves = state.leaves
        self._frontier.extend(leaves[at : at + 32] for at in range(0, len(leaves), 32))
        self._leaves = bytearray(leaves)
        self.report.records = self.size
        self._last_time = state.last_time
        self.chains.state.update(state.chains)
        ring = self.keys.ring
        keys = {k.key_id: k for k in ring.trusted_keys()} | {k.key_id: k for k in state.keys}
        credential = {k.key_id: k for k in ring.credentials.trusted_keys()} | {
            k.key_id: k for k in state.credential_keys
        }
        trust = replace(
            ring.trust_file(), record_keys=tuple(keys.values()), credential_keys=tuple(credential.values())
        )
        self.keys = KeyUse(KeyRing(trust), state.runs)
        self._lists = {c.sha256: c for c in sorted(state.statuslists, key=lambda c: -c.index)}
        self.directory = {k.key_id: k.public_raw for k in keys.values()}

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

    def require_quorum(self) -> None:
        """With a witness policy, fail ``checkpoint-quorum`` if checkpoints came and none meets it."""
        self._chain.require_quorum()

    def pending_checkpoints(self) -> list[VerifiedCheckpoint]:
        """Verified checkpoints whose root the log has not reached yet, by size."""
        return list(self._pending)

    def _queue(self, new: list[VerifiedCheckpoint]) -> None:
        self.report.checkpoints = self._chain.verified()
        self.report.unwitnessed = self._chain.unwitnessed()
        for cp in new:
            if cp.size > self.size:
                self._pending.append(cp)
            else:  # the log is already past it: rebuild that root from the kept leaf hashes
                frontier = MerkleFrontier()
                frontier.extend(bytes(self._leaves[at : at + 32]) for at in range(0, 32 * cp.size, 32))
                cp.time = self._last_time if cp.size == self.size else None
                self._check_root(cp, frontier.root(), lambda: None)
        self._pending = deque(sorted(self._pending, key=lambda c: c.size))

    def announce(self, raw: bytes) -> bool:
        """Learn a key a rotation record introduces, for checks dispatched after it.

        :meth:`feed` does this for every key record it checks; a caller may
        do it earlier (when it dispatches the record) to spare the redoing of
        the records after it whose facts were computed without the key.
        """
        found = announced_key(raw)
        if found is None or found[0] in self.directory:
            return False
        self.directory = {**self.directory, found[0]: found[1]}
        return True

    def feed(self, f: RecordFacts) -> None:
        """Run the sequential checks on the next input record's facts.

        Facts computed without the key of a record whose signature must be
        checked (its key was announced by a rotation record dispatched with or
        after it) are computed again, now with the key, from the bytes they keep.
        """
        raw = f.raw
        if raw is not None and f.error is None:
            if (
                f.sig_ok is None
                and (self.check_all or f.kind != "certificate")
                and f.key_id in self.directory
            ):
                f = record_facts(f.position, raw, self.directory, self.check_all)
            if f.kind == "key":
                self.announce(raw)
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
        # Steps 6-7: per-certificate chain and transition, key record, or status list commitment.
        if f.kind == "certificate":
            self.chains.check(f, self.checks)
        elif f.kind == "key":
            self._fast_key = None
            self.keys.apply(f, self.checks)
        else:
            self._commit(f)
        # Step 8: Merkle tree.
        self._frontier.append(f.leaf)
        self._leaves += f.leaf
        self._last_time = f.recorded_at
        self.report.records = self._frontier.size
        while self._pending and self._pending[0].size == self.size:
            cp = self._pending.popleft()
            cp.time = f.recorded_at
            self._check_root(cp, self._frontier.root(), lambda: f)

    def feed_batch(self, batch: Iterable[Facts]) -> None:
        """Run the sequential checks on the next records' facts: full, compact or runs of them.

        Compact facts are packed into runs first (:func:`group_runs`). The
        common case (a run's records whose index is the next one, signed by
        the key that last passed step 4, whose chain and transition hold) is
        checked inline, with the check counts added up in bulk; any other
        record goes through :meth:`feed`, which runs and counts every step.
        """
        for item in group_runs(batch):
            if type(item) is FastRun:
                self._feed_run(item)
            else:
                self.feed(cast(RecordFacts, item))

    def _feed_run(self, run: FastRun) -> None:
        """Check a run's records in order: stretches inline, the others one by one through :meth:`feed`.

        A stretch runs while the chain step passes, up to the key's end and the
        next checkpoint; its leaves then go into the tree at once and the
        checkpoint's root is checked, as if appended and checked one by one.
        """
        state, watch, legal, get = self.chains.state, self.chains.watch, LEGAL, self.chains.state.get
        frontier, pending = self._frontier, self._pending
        numbers, recorded = run.numbers.split("\n"), run.recorded.split("\n")
        rows = list(ROW_VIEW.iter_unpack(run.rows))
        signed = run.sig_ok is True or not self.check_all
        key_id, base, count, t = run.key_id, run.log_index, len(rows), 0
        while t < count:
            fast_key = self._fast_key
            if signed and fast_key is not None and fast_key[0] == key_id and base + t == frontier.size:
                stop = min(count, fast_key[1] - base, pending[0].size - base if pending else count)
                r = t
                while r < stop:
                    link, entry, event_status, _ = rows[r]
                    number = numbers[r]
                    old = get(number, NO_ENTRY)
                    if (
                        not old.startswith(link)
                        or not legal[old[LINK_SIZE] << 8 | event_status]
                        or number in watch
                    ):
                        break
                    state[number] = entry
                    r += 1
                if r > t:
                    new = [row[3] for row in rows[t:r]]
                    frontier.extend(new)
                    self._leaves += b"".join(new)
                    self._count_run(key_id, base + t, r - t)
                    self._last_time = recorded[r - 1]
                    t = r
                    while pending and pending[0].size == frontier.size:
                        cp = pending.popleft()
                        cp.time = recorded[t - 1]
                        self._check_root(cp, frontier.root(), partial(run.facts, t - 1, self.origin))
                    continue
            self.feed(run.facts(t, self.origin))
            t += 1

    def _count_run(self, key_id: str, start: int, count: int) -> None:
        """Account for ``count`` records from index ``start`` that passed every step inline."""
        checks = self.checks
        for check in self._fast_checks:
            checks[check] += count
        self.report.inputs += count
        self.report.records = self._frontier.size
        self.keys.signed_run(key_id, start, start + count)

    def _commit(self, f: RecordFacts) -> None:
        """Step: keep a verified ``statuslist`` record's commitment (the first one of its bytes wins)."""
        assert f.raw is not None  # facts of statuslist records keep their bytes
        commitment = StatusListCommitment.of(parse_record(f.raw))
        self._lists.setdefault(commitment.sha256, commitment)
        self.checks[Check.STATUS_LIST] += 1

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
        if self.check_all or f.kind != "certificate":
            where: Where = {"index": f.log_index, "certificate": f.number, "position": f.position}
            if self.directory.get(f.key_id) != key.public_raw:
                raise fail("key-conflict", f"two different public keys have keyId {f.key_id}", **where)
            if f.sig_ok is not True:
                why = "does not verify" if f.sig_ok is False else "could not be checked"
                raise fail("bad-signature", f"signature by key {f.key_id} {why}", **where)
            self.checks[Check.SIGNATURE] += 1
        self.keys.signed(f.key_id, f.log_index)
        if f.kind == "certificate":
            self._fast_key = (f.key_id, _covered_until(key, f.log_index))

    def _check_root(
        self, cp: VerifiedCheckpoint, root: bytes, where: Callable[[], RecordFacts | None]
    ) -> None:
        """Step 8 for ``cp``; ``where`` gives the facts of the record that completed its tree."""
        if root != cp.root:
            f = where()
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
        self.report.credentials = self.credentials
        return self.report


def _covered_until(key: TrustedKey, index: int) -> int:
    """The first index from ``index`` on at which ``key`` stops being in force (as the ring stands)."""
    ends = [sys.maxsize]
    if key.valid_until_index is not None:
        ends.append(key.valid_until_index)
    if key.compromised_from_index is not None and key.compromised_from_index > index:
        ends.append(key.compromised_from_index)
    return min(ends)
