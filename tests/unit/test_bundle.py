"""Proof bundles: build, parse, verify; and the tampering each step catches."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.bundle import ConsistencyProof, IncludedRecord, ProofBundle, build_bundle
from certlife.contracts.merkle import leaf_hash
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.verification import VerificationError
from certlife.contracts.verification.proof import verify_bundle
from certlife.services.demo.fixtures import generate
from certlife.services.partner.bundles import BundleError, bundle_from_export
from certlife.services.partner.export import read_trust
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _log() -> LogBuilder:
    """A log whose certificate C-0004 is last changed after a key rotation."""
    b = LogBuilder()
    b.issue_many(9)
    b.checkpoint()
    b.rotate("k1")
    b.add("C-0004", "suspended", "suspended")
    b.issue_many(5, "D")
    b.checkpoint()
    return b


def _bundle(b: LogBuilder, number: str = "C-0004", known_size: int | None = None) -> ProofBundle:
    size, note = b.checkpoints[-1]
    latest = max(i for i, raw in enumerate(b.records[:size]) if f'"number":"{number}"'.encode() in raw)
    keys = [(i, raw) for i, raw in enumerate(b.records[:size]) if b'"kind":"key"' in raw]
    return build_bundle(
        origin=b.origin,
        leaf_hashes=[leaf_hash(raw) for raw in b.records],
        checkpoint=note,
        tree_size=size,
        record=(latest, b.records[latest]),
        key_records=keys,
        known_size=known_size,
    )


def _code(bundle: ProofBundle | bytes, b: LogBuilder, known: str | None = None) -> str:
    with pytest.raises(VerificationError) as caught:
        verify_bundle(bundle, b.trust(), known)
    return caught.value.failure.code


def test_valid_bundle_verifies_and_round_trips() -> None:
    b = _log()
    bundle = _bundle(b)
    assert ProofBundle.parse(bundle.to_bytes()) == bundle
    report = verify_bundle(bundle, b.trust()).to_json()
    assert report["ok"] and (report["certificate"], report["status"]) == ("C-0004", "suspended")
    assert report["checkpoint"]["size"] == b.checkpoints[-1][0]
    assert report["checks"]["inclusion"] == 2 and report["checks"]["key-record"] == 1  # record + rotation


def test_altered_proof_hash_fails_inclusion() -> None:
    b = _log()
    bundle = _bundle(b)
    proof = list(bundle.record.proof)
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    altered = dataclasses.replace(bundle, record=dataclasses.replace(bundle.record, proof=tuple(proof)))
    assert _code(altered, b) == "inclusion-proof"


def test_wrong_tree_size_fails() -> None:
    b = _log()
    bundle = _bundle(b)
    assert _code(dataclasses.replace(bundle, tree_size=bundle.tree_size - 1), b) == "tree-size-mismatch"


def test_checkpoint_from_another_origin_fails() -> None:
    b = _log()
    other = LogBuilder(origin="other.example/log")
    other.records = list(b.records)
    note = other.sign_checkpoint(signer=NoteSigner(b.origin, Ed25519PrivateKey.generate()))
    assert _code(dataclasses.replace(_bundle(b), checkpoint=note), b) == "checkpoint-unverified"
    note = b.sign_checkpoint(origin="other.example/log")  # signed by the trusted key, other origin
    assert _code(dataclasses.replace(_bundle(b), checkpoint=note), b) == "checkpoint-wrong-origin"


def test_record_not_in_the_tree_fails() -> None:
    b = _log()
    bundle = _bundle(b)
    other = IncludedRecord(bundle.record.index, b.records[bundle.record.index - 1], bundle.record.proof)
    assert _code(dataclasses.replace(bundle, record=other), b) == "bundle-format"
    b.records[bundle.record.index] = b.cert_record("C-0004", "revoked", "revoked", index=bundle.record.index)
    swapped = IncludedRecord(bundle.record.index, b.records[bundle.record.index], bundle.record.proof)
    assert _code(dataclasses.replace(bundle, record=swapped), b) == "inclusion-proof"


def test_missing_rotation_leaves_the_new_key_unknown() -> None:
    b = _log()
    assert _code(dataclasses.replace(_bundle(b), key_records=()), b) == "unknown-key"


def test_compromise_marker_in_the_bundle_distrusts_the_record() -> None:
    b = _log()
    index = _bundle(b).record.index
    b.compromise(b.signer, index + 1)
    b.checkpoint()
    assert verify_bundle(_bundle(b), b.trust()).ok  # compromised only after the record
    b.compromise(b.signer, index)
    b.checkpoint()
    assert _code(_bundle(b), b) == "key-compromised"


def test_consistency_with_a_known_checkpoint() -> None:
    b = _log()
    known_size, known = b.checkpoints[0]
    report = verify_bundle(_bundle(b, known_size=known_size), b.trust(), known)
    assert report.ok and report.checks["consistency"] == 1
    assert _code(_bundle(b), b, known) == "consistency-missing"
    bundle = _bundle(b, known_size=known_size)
    assert bundle.consistency is not None
    bad = ConsistencyProof(known_size, (bytes(32), *bundle.consistency.proof[1:]))
    assert _code(dataclasses.replace(bundle, consistency=bad), b, known) == "consistency-proof"
    b.issue_many(1, "E")
    assert _code(bundle, b, b.sign_checkpoint(len(b.records))) == "checkpoint-rollback"


def test_same_size_known_checkpoint_needs_the_same_root() -> None:
    b = _log()
    size, note = b.checkpoints[-1]
    assert verify_bundle(_bundle(b), b.trust(), note).ok  # no consistency proof needed
    forked = sign_checkpoint(Checkpoint(b.origin, size, bytes(32)), b.note_signer)
    assert _code(_bundle(b), b, forked) == "checkpoint-fork"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("consistency"),
        lambda d: d.update(v=2),
        lambda d: d.update(treeSize="10"),
        lambda d: d["record"].update(proof=["not base64"]),
        lambda d: d["record"].update(record={"index": 1}),
        lambda d: d.update(keyRecords={}),
    ],
)
def test_malformed_bundles_fail_parsing(mutate: object) -> None:
    b = _log()
    data = json.loads(_bundle(b).to_bytes())
    mutate(data)  # type: ignore[operator]
    assert _code(json.dumps(data).encode(), b) == "bundle-format"
    assert _code(b"[]", b) == "bundle-format"
    assert _code(b"\xff", b) == "bundle-format"


def test_bundle_from_a_fixtures_export(tmp_path: Path) -> None:
    """``certctl bundle``'s builder on a real export, with a consistency proof."""
    out = tmp_path / "export"
    generate(out, certificates=60, seed=3, checkpoint_every=50, workers=0)
    trust = read_trust(out)
    first = (out / "log.jsonl").read_bytes().split(b"\n")[0]
    number = json.loads(first)["certificate"]["number"]
    bundle = bundle_from_export(out, number, known_size=50)
    known = (out / "checkpoints" / "50").read_text()
    assert verify_bundle(bundle.to_bytes(), trust, known).details["certificate"] == number
    with pytest.raises(BundleError, match="not in the log"):
        bundle_from_export(out, "NO-SUCH-NUMBER")
