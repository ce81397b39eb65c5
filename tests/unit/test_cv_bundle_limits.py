"""Proof bundles: every member is verified or the bundle is rejected; proofs and records are bounded.

A consistency proof nothing can check (no known checkpoint, or one that needs
no proof) is ``unused-proof`` ("unused proof"); a proof longer than a
tree of ``treeSize`` allows, more key records than leaves, a ``fromSize`` not
below ``treeSize`` are ``bundle-format``; a record over ``MAX_RECORD_BYTES``
is ``record-too-large``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from certlife.contracts.bundle import ConsistencyProof, ProofBundle, build_bundle, max_proof_length
from certlife.contracts.merkle import consistency_proof, inclusion_proof, leaf_hash
from certlife.contracts.records import MAX_RECORD_BYTES
from certlife.contracts.verification import VerificationError
from certlife.contracts.verification.proof import verify_bundle
from certlife.services.partner.certverify import main
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _log() -> LogBuilder:
    b = LogBuilder()
    b.issue_many(9)
    b.checkpoint()
    b.rotate("k1")
    b.add("C-0004", "suspended", "suspended")
    b.issue_many(5, "D")
    b.checkpoint()
    return b


def _bundle(b: LogBuilder, known_size: int | None = None) -> ProofBundle:
    size, note = b.checkpoints[-1]
    latest = max(i for i, raw in enumerate(b.records[:size]) if b'"number":"C-0004"' in raw)
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


def _failure(data: ProofBundle | bytes, b: LogBuilder, known: str | None = None) -> tuple[str, str]:
    with pytest.raises(VerificationError) as caught:
        verify_bundle(data, b.trust(), known)
    return caught.value.failure.code, caught.value.failure.message


def _garbage(n: int) -> list[str]:
    return [base64.b64encode(os.urandom(32)).decode() for _ in range(n)]


def _edited(bundle: ProofBundle, edit: Any) -> bytes:
    data = json.loads(bundle.to_bytes())
    edit(data)
    return json.dumps(data).encode()


def test_max_proof_length_bounds_every_proof_and_is_reached() -> None:
    leaves = [leaf_hash(bytes([i % 256, i // 256])) for i in range(300)]
    for size in (*range(1, 70), 255, 256, 257):
        longest_inclusion = max(len(inclusion_proof(leaves, i, size)) for i in range(size))
        assert longest_inclusion == max_proof_length(size)
        if size > 1:
            longest = max(len(consistency_proof(leaves, m, size)) for m in range(1, size))
            assert longest <= max_proof_length(size, consistency=True)
    longest = max(len(consistency_proof(leaves, m, 299)) for m in range(1, 299))
    assert longest == max_proof_length(299, consistency=True)


def test_garbage_consistency_proof_without_a_known_checkpoint_is_rejected() -> None:
    b = _log()
    bundle = _bundle(b)
    assert bundle.consistency is None and verify_bundle(bundle, b.trust()).ok
    huge = _edited(bundle, lambda d: d.update(consistency={"fromSize": 5, "proof": _garbage(10_000)}))
    code, message = _failure(huge, b)
    assert code == "bundle-format" and "10000 hashes" in message
    fits = max_proof_length(bundle.tree_size, consistency=True)
    garbage = _edited(bundle, lambda d: d.update(consistency={"fromSize": 5, "proof": _garbage(fits)}))
    code, message = _failure(garbage, b)
    assert code == "unused-proof" and "unused proof" in message


def test_a_valid_but_unused_consistency_proof_is_rejected() -> None:
    b = _log()
    known_size, known = b.checkpoints[0]
    bundle = _bundle(b, known_size=known_size)
    assert verify_bundle(bundle, b.trust(), known).checks["consistency"] == 1  # used: verified
    code, message = _failure(bundle, b)  # no known checkpoint: nothing checks it
    assert code == "unused-proof" and "no known checkpoint" in message
    code, message = _failure(bundle, b, b.checkpoints[-1][1])  # same size known: no proof needed
    assert code == "unused-proof" and "unused proof" in message


@pytest.mark.parametrize("member", ["record", "keyRecords"])
def test_overlong_inclusion_proofs_fail_parsing(member: str) -> None:
    b = _log()
    bundle = _bundle(b)
    entry = (lambda d: d["record"]) if member == "record" else (lambda d: d["keyRecords"][0])
    code, message = _failure(_edited(bundle, lambda d: entry(d).update(proof=_garbage(10_000))), b)
    assert code == "bundle-format" and f"at most {max_proof_length(bundle.tree_size)}" in message
    one_more = max_proof_length(bundle.tree_size) + 1
    code, _ = _failure(_edited(bundle, lambda d: entry(d).update(proof=_garbage(one_more))), b)
    assert code == "bundle-format"


def test_more_key_records_than_leaves_and_a_from_size_at_the_tree_size_fail_parsing() -> None:
    b = _log()
    bundle = _bundle(b)
    many = _edited(bundle, lambda d: d.update(keyRecords=d["keyRecords"] * (bundle.tree_size + 1)))
    assert _failure(many, b)[0] == "bundle-format"
    at_size = _edited(bundle, lambda d: d.update(consistency={"fromSize": bundle.tree_size, "proof": []}))
    assert _failure(at_size, b)[0] == "bundle-format"


def test_a_record_over_the_limit_fails_record_format() -> None:
    b = _log()
    bundle = _bundle(b)
    big = _edited(bundle, lambda d: d["record"].update(record="x" * (MAX_RECORD_BYTES + 1)))
    code, message = _failure(big, b)
    assert code == "record-too-large" and "record limit" in message
    wide = "é" * (MAX_RECORD_BYTES // 2 + 1)  # few enough characters, too many UTF-8 bytes
    assert _failure(_edited(bundle, lambda d: d["record"].update(record=wide)), b)[0] == "record-too-large"


def test_in_memory_bundle_with_an_unchecked_proof_is_rejected_too() -> None:
    b = _log()
    bundle = dataclasses.replace(_bundle(b), consistency=ConsistencyProof(3, (bytes(32),) * 3))
    assert _failure(bundle, b)[0] == "unused-proof"


def test_certverify_proof_rejects_unused_proof_material(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = _log()
    b.write_export(tmp_path)
    path = tmp_path / "bundle.json"
    path.write_bytes(_bundle(b, known_size=b.checkpoints[0][0]).to_bytes())
    code = main(["proof", str(path), "--trust", str(tmp_path / "trust.json"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False and report["failure"]["code"] == "unused-proof"
    known = tmp_path / "known"
    known.write_text(b.checkpoints[0][1])
    argv = ["proof", str(path), "--trust", str(tmp_path / "trust.json"), "--known-checkpoint", str(known)]
    assert main(argv) == 0 and capsys.readouterr().out.rstrip().endswith("VERIFIED")
