"""Witness policy in the verifier: quorum, merged cosigned copies, reports, ``--witness-policy``.

Through ``certverify log|proof|record`` on exports written by the test log
builder, and through ``verify_log`` / ``LogVerifier`` for checkpoint orders an
export cannot hold (a topic's later cosigned copy of a checkpoint).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.bundle import build_bundle
from certlife.contracts.cosignature import CosignatureSigner, add_signature_lines
from certlife.contracts.merkle import leaf_hash
from certlife.contracts.notes import Checkpoint
from certlife.contracts.trust import TrustFile
from certlife.contracts.verification import LogVerifier, VerificationError, record_facts, verify_log
from certlife.contracts.verification.proof import verify_bundle
from certlife.services.partner.certverify import main
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


W1 = CosignatureSigner("w1.partner.example", _key("w1"))
W2 = CosignatureSigner("w2.partner.example", _key("w2"))
W3 = CosignatureSigner("w3.partner.example", _key("w3"))  # not in any policy
TWO_OF_TWO = f"witness alpha {W1.vkey()}\nwitness beta {W2.vkey()}\ngroup both 2 alpha beta\nquorum both\n"
ALPHA_ONLY = f"witness alpha {W1.vkey()}\nquorum alpha\n"


def _cosign(note: str, *signers: CosignatureSigner, at: int = 1_750_000_000) -> str:
    body = note[: note.rfind("\n\n") + 1]
    return add_signature_lines(note, [s.cosign(body, at + i) for i, s in enumerate(signers)])


def _log(*cosigners: tuple[CosignatureSigner, ...]) -> LogBuilder:
    """A log of two checkpoints and a tail; checkpoint ``i`` cosigned by ``cosigners[i]``."""
    b = LogBuilder()
    b.issue_many(6)
    b.checkpoint()
    b.issue_many(4, "D")
    b.checkpoint()
    b.add("D-0001", "suspended", "suspended")  # past the newest checkpoint
    b.checkpoints = [
        (size, _cosign(note, *signers))
        for (size, note), signers in zip(b.checkpoints, cosigners, strict=True)
    ]
    return b


def _export(tmp_path: Path, b: LogBuilder, policy: str | None = None) -> Path:
    return b.write_export(tmp_path / "export", b.trust().with_policy(policy))


def _certverify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def _policy_file(tmp_path: Path, text: str, name: str = "policy.txt") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_quorum_two_rejects_one_cosignature_and_accepts_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _export(tmp_path / "one", _log((W1, W3), (W1,)), TWO_OF_TWO)
    code, report, _ = _certverify(capsys, "log", str(one), "--trust", str(one / "trust.json"), "--jobs", "1")
    assert code == 1 and report["ok"] is False
    failure = report["failure"]
    assert (failure["code"], failure["check"]) == ("checkpoint-quorum", "checkpoint-witnesses")
    assert "quorum all of (alpha, beta)" in failure["message"]
    assert "cosigned by alpha" in failure["message"] and failure["checkpoint"] == 18
    assert report["checks"].get("canonical") is None  # refused before any record is read

    b = _log((W1, W2), (W2, W3, W1))
    two = _export(tmp_path / "two", b, TWO_OF_TWO)
    code, report, _ = _certverify(capsys, "log", str(two), "--trust", str(two / "trust.json"))
    assert code == 0 and report["ok"] is True
    assert report["latestCheckpoint"]["size"] == 18 and report["latestCheckpoint"]["cosignedBy"] == [
        "alpha",
        "beta",
    ]
    assert report["checks"]["checkpoint-witnesses"] == 2
    assert report["witnesses"]["quorum"] == "all of (alpha, beta)"
    assert report["witnesses"]["withoutQuorum"] == 0 and report["unanchored"] == 1


def test_human_report_names_the_cosigners(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = _export(tmp_path, _log((W1, W2), (W1,)), TWO_OF_TWO)
    assert main(["log", str(export), "--trust", str(export / "trust.json")]) == 0
    out = capsys.readouterr().out
    assert (
        "witness quorum all of (alpha, beta): the newest anchoring checkpoint (size 10) is cosigned by alpha, beta"
        in out
    )
    assert "checkpoints without the quorum (anchor nothing): 1, the newest of size 18" in out
    assert out.rstrip().endswith("VERIFIED")


def test_checkpoint_without_quorum_anchors_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = _log((W1, W2), (W1,))
    code, report, _ = _certverify(
        capsys,
        "log",
        str(_export(tmp_path, b, TWO_OF_TWO)),
        "--trust",
        str(tmp_path / "export" / "trust.json"),
    )
    assert code == 0
    assert report["latestCheckpoint"]["size"] == 10 and report["checkpoints"] == 1
    assert report["unanchored"] == len(b.records) - 10
    assert report["witnesses"] | {"invalidCosignatures": []} == {
        "quorum": "all of (alpha, beta)",
        "withoutQuorum": 1,
        "newestWithoutQuorum": 18,
        "invalidCosignatures": [],
        "invalidCosignatureCount": 0,
    }
    assert report["checks"]["checkpoint-root"] == 1  # the unwitnessed root is not compared with the log


def test_no_policy_reports_as_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = _export(tmp_path, _log((W1,), ()))
    code, report, _ = _certverify(capsys, "log", str(export), "--trust", str(export / "trust.json"))
    assert code == 0 and "witnesses" not in report and "cosignedBy" not in report["latestCheckpoint"]
    assert "witnessPolicy" not in json.loads((export / "trust.json").read_text())


def test_invalid_cosignature_by_a_known_witness_is_reported_not_counted() -> None:
    b = _log((W1,), ())
    size, note = b.checkpoints[0]
    forged = note + W2.cosign(Checkpoint(b.origin, size + 1, bytes(32)).body(), 5)  # beta, another body
    trust = b.trust().with_policy(TWO_OF_TWO)
    with pytest.raises(VerificationError) as caught:
        verify_log(b.lines(), [(size, forged)], trust)
    assert caught.value.failure.code == "checkpoint-quorum"
    assert "cosigned by alpha; invalid cosignature by beta" in caught.value.failure.message
    assert verify_log(b.lines(), [(size, forged)], b.trust().with_policy(ALPHA_ONLY)).ok  # beta unknown
    two = b.trust().with_policy(f"witness alpha {W1.vkey()}\nwitness beta {W2.vkey()}\nquorum alpha\n")
    report = verify_log(b.lines(), [(size, forged)], two)
    latest = report.to_json()["latestCheckpoint"]
    assert latest["cosignedBy"] == ["alpha"] and latest["invalidCosignatures"] == ["beta"]
    assert report.to_json()["witnesses"]["invalidCosignatures"] == [{"checkpoint": size, "witness": "beta"}]


def test_later_cosigned_copies_are_merged_in_any_order() -> None:
    """A topic: checkpoint 10 plain, 20 plain, then 10 cosigned by one witness, then by the other."""
    b = _log((), ())
    (small, plain_small), (large, plain_large) = b.checkpoints
    trust = b.trust().with_policy(TWO_OF_TWO)
    notes = [
        (None, plain_small),
        (None, plain_large),
        (None, _cosign(plain_small, W1)),
        (None, _cosign(plain_small, W2)),
    ]
    report = verify_log(b.lines(), notes, trust)
    assert [cp.size for cp in report.checkpoints] == [small]
    assert report.checkpoints[0].cosigned_by == ("alpha", "beta")
    assert (
        "w1.partner.example" in report.checkpoints[0].note
        and "w2.partner.example" in report.checkpoints[0].note
    )
    assert report.to_json()["witnesses"]["newestWithoutQuorum"] == large
    # Each copy alone is one short of the quorum.
    with pytest.raises(VerificationError, match="checkpoint-quorum"):
        verify_log(b.lines(), notes[:3], trust)
    # A plain repeat (no new signature line) after a newer checkpoint is still a rollback.
    with pytest.raises(VerificationError) as caught:
        verify_log(b.lines(), [(None, plain_small), (None, plain_large), (None, plain_small)], trust)
    assert caught.value.failure.code == "checkpoint-rollback"


def test_copy_with_another_root_is_a_fork() -> None:
    b = _log((W1,), ())
    size, note = b.checkpoints[0]
    verifier = LogVerifier(b.trust().with_policy(TWO_OF_TWO))
    verifier.add_checkpoints([(None, note)])
    # A validly signed second root for the same size, with new cosignatures: a fork, not a merge.
    bad = _cosign(_resign_root(b, size, bytes(32)), W1, W2)
    with pytest.raises(VerificationError) as caught:
        verifier.extend_checkpoints([(None, bad)])
    assert caught.value.failure.code == "checkpoint-fork"


def _resign_root(b: LogBuilder, size: int, root: bytes) -> str:
    from certlife.contracts.notes import sign_checkpoint

    return sign_checkpoint(Checkpoint(b.origin, size, root), b.note_signer)


def test_mirror_style_verifier_waits_for_a_witnessed_checkpoint() -> None:
    """``extend_checkpoints``: a plain checkpoint is not pending; its cosigned copy is."""
    b = _log((), ())
    (small, plain_small), _ = b.checkpoints
    verifier = LogVerifier(b.trust().with_policy(TWO_OF_TWO))
    verifier.add_checkpoints([])
    verifier.extend_checkpoints([(None, plain_small)])
    assert verifier.pending_checkpoints() == []
    verifier.extend_checkpoints([(None, _cosign(plain_small, W1, W2))])
    assert [cp.size for cp in verifier.pending_checkpoints()] == [small]
    for position, raw in b.lines()[:small]:
        verifier.feed(record_facts(position, raw, verifier.directory, True))
    assert verifier.pending_checkpoints() == [] and verifier.checks["checkpoint-root"] == 1
    # A checkpoint the records already passed, cosigned later: its root is checked from the kept leaves.
    (large, plain_large) = b.checkpoints[1]
    verifier.extend_checkpoints([(None, plain_large)])
    for position, raw in b.lines()[small:]:
        verifier.feed(record_facts(position, raw, verifier.directory, True))
    assert verifier.finish().latest_checkpoint.size == small  # type: ignore[union-attr]
    verifier.extend_checkpoints([(None, _cosign(plain_large, W2, W1))])
    assert verifier.checks["checkpoint-root"] == 2 and verifier.report.latest_checkpoint.size == large  # type: ignore[union-attr]
    bad = _cosign(_resign_root(b, len(b.records), bytes(32)), W1, W2)
    with pytest.raises(VerificationError) as caught:
        verifier.extend_checkpoints([(None, bad)])
    assert caught.value.failure.code == "root-mismatch"


def test_policy_in_trust_json_and_the_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = _export(tmp_path, _log((W1,), (W1,)), ALPHA_ONLY)  # trust.json: alpha alone suffices
    trust = str(export / "trust.json")
    assert TrustFile.from_bytes((export / "trust.json").read_bytes()).witness_policy == ALPHA_ONLY
    code, report, _ = _certverify(capsys, "log", str(export), "--trust", trust)
    assert code == 0 and report["latestCheckpoint"]["cosignedBy"] == ["alpha"]
    stricter = _policy_file(tmp_path, TWO_OF_TWO)
    code, report, _ = _certverify(capsys, "log", str(export), "--trust", trust, "--witness-policy", stricter)
    assert code == 1 and report["failure"]["code"] == "checkpoint-quorum"
    none = _policy_file(tmp_path, "quorum none\n", "none.txt")
    code, report, _ = _certverify(capsys, "log", str(export), "--trust", trust, "--witness-policy", none)
    assert code == 0 and report["witnesses"]["quorum"] == "none"


@pytest.mark.parametrize("command", ["log", "record", "proof"])
def test_malformed_policy_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    export = _export(tmp_path, _log((W1,), ()))
    (export / "record.json").write_bytes(_log((), ()).records[0])
    target = {"log": export, "record": export / "record.json", "proof": export / "record.json"}[command]
    bad = _policy_file(tmp_path, f"witness alpha {W1.vkey()}\ngroup g 3 alpha\nquorum g\n")
    code = main([command, str(target), "--trust", str(export / "trust.json"), "--witness-policy", bad])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{bad}: malformed witness policy: line 2: group g: threshold 3 is not between 1 and 1" in err
    code = main(
        [
            command,
            str(target),
            "--trust",
            str(export / "trust.json"),
            "--witness-policy",
            str(tmp_path / "no"),
        ]
    )
    assert code == 2 and "witness policy" in capsys.readouterr().err


def test_malformed_policy_in_trust_json_is_refused() -> None:
    data = {**LogBuilder().trust().to_json(), "witnessPolicy": "quorum nobody\n"}
    with pytest.raises(Exception, match="witnessPolicy: malformed witness policy: line 1") as caught:
        TrustFile.from_dict(data)
    assert getattr(caught.value, "code", None) == "malformed-trust"
    with pytest.raises(Exception, match="witnessPolicy must be a string"):
        TrustFile.from_dict({**data, "witnessPolicy": ["quorum none"]})


def _bundle_for(b: LogBuilder) -> bytes:
    size, note = b.checkpoints[-1]
    return build_bundle(
        origin=b.origin,
        leaf_hashes=[leaf_hash(raw) for raw in b.records],
        checkpoint=note,
        tree_size=size,
        record=(3, b.records[3]),
        key_records=[],
    ).to_bytes()


def test_proof_bundle_needs_the_quorum(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = _log((), (W1,))
    with pytest.raises(VerificationError) as caught:
        verify_bundle(_bundle_for(b), b.trust().with_policy(TWO_OF_TWO))
    assert caught.value.failure.code == "checkpoint-quorum"
    report = verify_bundle(_bundle_for(b), b.trust().with_policy(ALPHA_ONLY)).to_json()
    assert report["checkpoint"]["cosignedBy"] == ["alpha"] and report["checks"]["checkpoint-witnesses"] == 1
    export = _export(tmp_path, b)
    (tmp_path / "bundle.json").write_bytes(_bundle_for(b))
    strict = _policy_file(tmp_path, TWO_OF_TWO)
    argv = ["proof", str(tmp_path / "bundle.json"), "--trust", str(export / "trust.json")]
    code, report, _ = _certverify(capsys, *argv, "--witness-policy", strict)
    assert code == 1 and report["failure"]["code"] == "checkpoint-quorum"
    assert main([*argv, "--witness-policy", _policy_file(tmp_path, ALPHA_ONLY, "a.txt")]) == 0
    assert ", cosigned by alpha" in capsys.readouterr().out


def test_status_rests_on_the_newest_witnessed_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _export(tmp_path, _log((W1, W2), (W1,)))
    argv = ["status", "D-0000", str(export), "--trust", str(export / "trust.json")]
    code, report, _ = _certverify(capsys, *argv, "--witness-policy", _policy_file(tmp_path, TWO_OF_TWO))
    assert report["latestCheckpoint"]["size"] == 10 and report["witnesses"]["newestWithoutQuorum"] == 18
    assert code == 0 and (report["answer"]["status"], report["answer"]["index"]) == ("valid", 15)
    assert report["answer"]["checkpoint"] is None  # index 15 is past the witnessed checkpoint (10)
    code, report, _ = _certverify(
        capsys, *argv, "--witness-policy", _policy_file(tmp_path, "quorum none\n", "n")
    )
    assert code == 0 and report["latestCheckpoint"]["size"] == report["answer"]["checkpoint"]["size"] == 18


def test_mirror_takes_the_override_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``certverify mirror --witness-policy``: a malformed file stops it before any connection (exit 2)."""
    export = _export(tmp_path, _log((W1,), ()))
    bad = _policy_file(tmp_path, "quorum x\n")
    argv = ["mirror", "--database", "postgresql://127.0.0.1:1/none", "--trust", str(export / "trust.json")]
    assert main([*argv, "--bootstrap", "127.0.0.1:1", "--once", "--witness-policy", bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}: malformed witness policy: line 1: quorum names 'x'" in err
