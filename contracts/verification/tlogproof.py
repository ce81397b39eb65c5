"""``verify_tlog_proof``: check a C2SP tlog-proof holding a certlife record, offline.

The steps are the proof bundle's (:mod:`certlife.contracts.verification.proof`),
on what a tlog-proof carries (contracts/BUNDLE.md §4): 1 the file parses
(:class:`~certlife.contracts.tlogproof.TlogProof`; a malformed file raises
``TlogProofError``, not a verification failure) and its ``extra`` line holds a
record; 2 the checkpoint is signed by a trusted note key for the trusted
origin and, with a witness policy (the trust file's, or ``policy``), its
cosignatures meet the quorum (``checkpoint-quorum``); 4-5 the
record is canonical, of the trusted origin, at the proof's index, and
included in the checkpoint's tree; 7-8 its key is in force at its index under
the trust file's keys and its signature verifies; 9 with a known checkpoint,
the proof's tree is not older and, at the same size, has the same root. A
tlog-proof carries no key records and no consistency proof: a record signed
by a key that only a rotation in the log introduced fails ``unknown-key``, and
a known checkpoint smaller than the proof's fails ``consistency-missing``
(use a proof bundle for either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from certlife.contracts.bundle import IncludedRecord
from certlife.contracts.records import MAX_RECORD_BYTES
from certlife.contracts.tlogproof import TlogProof, TlogProofError
from certlife.contracts.trust import KeyRing, TrustFile
from certlife.contracts.verification.checkpoints import VerifiedCheckpoint, open_checkpoint
from certlife.contracts.verification.failures import Check, fail
from certlife.contracts.verification.proof import _authenticate, _included, witnessed_checkpoint
from certlife.contracts.verification.record import record_summary
from certlife.contracts.verification.report import StepReport, checkpoint_json, reporting

if TYPE_CHECKING:
    from certlife.contracts.policy import WitnessPolicy


def certlife_record(proof: TlogProof) -> bytes:
    """The record bytes a certlife tlog-proof carries in its ``extra`` line.

    Raises :class:`TlogProofError` when the line is absent: without the record
    the proof proves nothing a certlife verifier can show.
    """
    if proof.extra is None:
        raise TlogProofError(
            "malformed tlog-proof: no extra line; a certlife tlog-proof carries the record bytes there"
        )
    return proof.extra


def _known(cp: VerifiedCheckpoint, known: VerifiedCheckpoint) -> None:
    # Step 9: without a consistency proof, only "not older" and "same root at the same size".
    if known.size > cp.size:
        raise fail(
            "checkpoint-rollback",
            f"the proof's checkpoint of size {cp.size} is older than the known one of size {known.size}",
            checkpoint=cp.size,
        )
    if known.size == cp.size and known.root != cp.root:
        raise fail("checkpoint-fork", f"two different roots for tree size {cp.size}", checkpoint=cp.size)
    if 0 < known.size < cp.size:
        raise fail(
            "consistency-missing",
            f"a tlog-proof carries no consistency proof from the known tree size {known.size} "
            f"(a proof bundle built with --known-size {known.size} does)",
            checkpoint=cp.size,
        )


def verify_tlog_proof(
    proof: TlogProof | bytes,
    trust: TrustFile,
    known_checkpoint: str | None = None,
    policy: WitnessPolicy | None = None,
) -> StepReport:
    """Verify a certlife tlog-proof (or its bytes) against ``trust``; raise VerificationError.

    A malformed file raises :class:`TlogProofError` (``malformed-tlog-proof``)
    before any step. ``known_checkpoint`` is a signed note seen before;
    ``policy`` a witness policy the checkpoint's cosignatures must meet
    (default: the trust file's ``witnessPolicy``, if any).
    """
    if not isinstance(proof, TlogProof):
        proof = TlogProof.parse(proof)
    raw = certlife_record(proof)
    report = StepReport("tlog-proof")
    with reporting(report):
        # Step 1: the file parsed and carries one record of at most MAX_RECORD_BYTES.
        if len(raw) > MAX_RECORD_BYTES:  # the parser's limit already; kept beside the bundle's
            raise fail("record-too-large", f"the record is longer than {MAX_RECORD_BYTES} bytes")
        report.checks[Check.BUNDLE] += 1
        ring = KeyRing(trust)
        # Step 2: the checkpoint is signed by a known note key, for the trusted origin, and
        # meets the witness quorum (the bundle's step: checkpoint-quorum, report cosignedBy).
        cp = witnessed_checkpoint(proof.checkpoint, trust, report.checks, policy)
        # Steps 4-5: the record, and its inclusion at the proof's index.
        record = _included(IncludedRecord(proof.index, raw, proof.proof), cp, trust.origin, report)
        report.details = {**record_summary(record), "checkpoint": checkpoint_json(cp)}
        # Steps 7-8: its key under the trust file's keys, then its signature.
        _authenticate(ring, record, report)
        if known_checkpoint is not None:
            known = open_checkpoint(known_checkpoint, ring.note_verifiers(), trust.origin, report.checks)
            _known(cp, known)
            report.checks[Check.CONSISTENCY] += 1
            report.details["knownCheckpoint"] = checkpoint_json(known)
    return report
