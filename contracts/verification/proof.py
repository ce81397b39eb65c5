"""``verify_bundle``: check a proof bundle offline, in O(log n), without the log.

Steps: 1 bundle format, 2 checkpoint signature and origin (and, with a
witness policy, its quorum of cosignatures: :func:`witnessed_checkpoint`, which
any other proof format uses too), 3 tree size,
4 record canonical and origin, 5 inclusion in the checkpoint's tree, 6 key
records (each included, signed by a key in force, followed in index order),
7 the record's key in force at its index, 8 its signature, 9 consistency
with a checkpoint the verifier already knows (if given). Every member of the
bundle is checked or the bundle is rejected: a consistency proof that no
known checkpoint calls for fails step 9 (``consistency-proof``, "unused
proof"), and the parser bounds every proof's length
(:func:`certlife.contracts.bundle.max_proof_length`).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import leaf_hash, verify_consistency, verify_inclusion
from certlife.contracts.policy import WitnessPolicy
from certlife.contracts.records import Record, parse_record, verify_record_signature
from certlife.contracts.trust import KeyRing, TrustFile
from certlife.contracts.verification.checkpoints import (
    VerifiedCheckpoint,
    open_checkpoint,
    quorum_failure,
    witness_checkpoint,
)
from certlife.contracts.verification.failures import Check, Where, fail
from certlife.contracts.verification.record import record_summary
from certlife.contracts.verification.report import StepReport, checkpoint_json, reporting

if TYPE_CHECKING:
    from certlife.contracts.bundle import IncludedRecord, ProofBundle

_PARSE_CODES = frozenset({"not-json", "not-canonical"})
_KEY_CODES = frozenset({"unknown-key", "key-out-of-range", "key-compromised"})


def witnessed_checkpoint(
    note: str, trust: TrustFile, checks: Counter[str], policy: WitnessPolicy | None = None
) -> VerifiedCheckpoint:
    """Step 2 of any proof: the checkpoint note is signed, of the trusted origin, and witnessed.

    Signed by a known note key, for the trusted origin, and meeting the witness
    quorum of ``policy`` (default: the trust file's; neither: no quorum).

    Raises VerificationError (``checkpoint-*``; ``checkpoint-quorum`` naming who cosigned
    and what the quorum needs). The result's ``cosigned_by`` names the witnesses.
    """
    cp = open_checkpoint(note, KeyRing(trust).note_verifiers(), trust.origin, checks)
    policy = policy if policy is not None else trust.policy
    if policy is not None:
        witness_checkpoint(cp, note, policy)
        if not cp.anchors:
            raise fail("checkpoint-quorum", quorum_failure(policy, cp), checkpoint=cp.size)
        checks[Check.CHECKPOINT_WITNESSES] += 1
    return cp


def _included(entry: IncludedRecord, cp: VerifiedCheckpoint, origin: str, report: StepReport) -> Record:
    # Steps 4-5 for one record: canonical, origin, inclusion in the checkpoint's tree.
    try:
        record = parse_record(entry.record)
    except ContractError as exc:
        code = exc.code if exc.code in _PARSE_CODES else "record-format"
        raise fail(code, str(exc), index=entry.index) from None
    report.checks[Check.CANONICAL] += 1
    where: Where = {"index": record.index, "certificate": record.number}
    if record.origin != origin:
        raise fail("wrong-origin", f"origin {record.origin!r} is not {origin!r}", **where)
    report.checks[Check.ORIGIN] += 1
    if record.index != entry.index:
        raise fail("bundle-format", f"bundle says index {entry.index}, the record {record.index}", **where)
    try:
        verify_inclusion(leaf_hash(entry.record), record.index, cp.size, entry.proof, cp.root)
    except ContractError as exc:
        raise fail(
            "inclusion-proof", str(exc), index=record.index, certificate=record.number, checkpoint=cp.size
        ) from None
    report.checks[Check.INCLUSION] += 1
    return record


def _follow_keys(bundle: ProofBundle, cp: VerifiedCheckpoint, ring: KeyRing, report: StepReport) -> None:
    # Step 6: key records, in index order, each included and signed by a key in force.
    last = -1
    for entry in bundle.key_records:
        if entry.index <= last:
            raise fail("bundle-format", "keyRecords must be in increasing index order", index=entry.index)
        last = entry.index
        record = _included(entry, cp, bundle.origin, report)
        if record.kind != "key":
            raise fail("bundle-format", "keyRecords holds a certificate record", index=record.index)
        _authenticate(ring, record, report)
        try:
            ring.apply_key_record(record)
        except ContractError as exc:
            raise fail("key-record", str(exc), index=record.index) from None
        report.checks[Check.KEY_RECORD] += 1


def _authenticate(ring: KeyRing, record: Record, report: StepReport) -> None:
    # Steps 7-8: key in force at the record's index, then the signature.
    try:
        key = ring.key_for(record.key_id, record.index)
    except ContractError as exc:
        code = exc.code if exc.code in _KEY_CODES else "unknown-key"
        raise fail(code, str(exc), index=record.index, certificate=record.number) from None
    report.checks[Check.KEY] += 1
    try:
        verify_record_signature(record, key.public_raw)
    except ContractError as exc:
        raise fail("bad-signature", str(exc), index=record.index, certificate=record.number) from None
    report.checks[Check.SIGNATURE] += 1


def _unused(bundle: ProofBundle, cp: VerifiedCheckpoint, why: str) -> None:
    # Step 9: proof material nothing can check is rejected, never silently accepted.
    if bundle.consistency is not None:
        raise fail(
            "unused-proof",
            f"unused proof: the bundle holds a consistency proof from tree size "
            f"{bundle.consistency.from_size}, but {why}, so it cannot be checked",
            checkpoint=cp.size,
        )


def _consistent(bundle: ProofBundle, cp: VerifiedCheckpoint, known: VerifiedCheckpoint) -> None:
    # Step 9: the bundle's tree extends the tree the verifier already knows.
    if known.size > cp.size:
        raise fail(
            "checkpoint-rollback",
            f"bundle checkpoint of size {cp.size} is older than the known one of size {known.size}",
            checkpoint=cp.size,
        )
    if known.size == cp.size or known.size == 0:
        if known.size and known.root != cp.root:
            raise fail("checkpoint-fork", f"two different roots for tree size {cp.size}", checkpoint=cp.size)
        _unused(bundle, cp, f"the known checkpoint has size {known.size}, which needs no proof")
        return
    proof = bundle.consistency
    if proof is None or proof.from_size != known.size:
        raise fail(
            "consistency-missing",
            f"the bundle has no consistency proof from the known tree size {known.size}",
            checkpoint=cp.size,
        )
    try:
        verify_consistency(known.size, cp.size, known.root, cp.root, proof.proof)
    except ContractError as exc:
        raise fail("consistency-proof", str(exc), checkpoint=cp.size) from None


def verify_bundle(
    bundle: ProofBundle | bytes, trust: TrustFile, known_checkpoint: str | None = None
) -> StepReport:
    """Verify a proof bundle (or its bytes) against ``trust``; raise VerificationError.

    ``known_checkpoint`` is a signed checkpoint note the verifier saw before;
    the bundle must then prove its tree extends that one.
    """
    from certlife.contracts.bundle import ProofBundle

    report = StepReport("proof")
    with reporting(report):
        # Step 1: the bundle parses.
        if not isinstance(bundle, ProofBundle):
            bundle = ProofBundle.parse(bundle)
        report.checks[Check.BUNDLE] += 1
        ring = KeyRing(trust)
        verifiers = ring.note_verifiers()
        # Step 2: the checkpoint is signed by a known note key, for the trusted origin (and witnessed).
        cp = witnessed_checkpoint(bundle.checkpoint, trust, report.checks)
        # Step 3: the proofs are for the checkpoint's tree size.
        if bundle.tree_size != cp.size:
            raise fail(
                "tree-size-mismatch",
                f"the bundle's proofs are for tree size {bundle.tree_size}, its checkpoint has {cp.size}",
                index=bundle.record.index,
                checkpoint=cp.size,
            )
        if bundle.origin != trust.origin:
            raise fail("wrong-origin", f"bundle origin {bundle.origin!r} is not {trust.origin!r}")
        record = _included(bundle.record, cp, trust.origin, report)
        report.details = {**record_summary(record), "checkpoint": checkpoint_json(cp)}
        _follow_keys(bundle, cp, ring, report)
        _authenticate(ring, record, report)
        if known_checkpoint is not None:
            known = open_checkpoint(known_checkpoint, verifiers, trust.origin, report.checks)
            _consistent(bundle, cp, known)
            report.checks[Check.CONSISTENCY] += 1
            report.details["knownCheckpoint"] = checkpoint_json(known)
        else:
            _unused(bundle, cp, "no known checkpoint was given (--known-checkpoint)")
    return report
