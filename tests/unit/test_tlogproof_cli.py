"""``certctl bundle --format tlog-proof`` and ``certverify proof`` on a tlog-proof: exit codes 0, 1, 2."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from certlife.contracts.tlogproof import TlogProof
from certlife.services.cli.certctl import main as certctl
from certlife.services.demo.fixtures import generate
from certlife.services.partner.bundles import BundleError, tlog_proof_from_export
from certlife.services.partner.certverify import main as certverify
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fixtures export with checkpoints at 50, 100, 150 and its end."""
    out = tmp_path_factory.mktemp("tlogproof") / "export"
    generate(out, certificates=60, seed=3, checkpoint_every=50, workers=0)
    return out


def _exit(argv: list[str]) -> int:
    """certctl's exit status (its errors raise SystemExit with it)."""
    try:
        return certctl(argv)
    except SystemExit as exc:
        assert isinstance(exc.code, int)
        return exc.code


def _number(export: Path) -> str:
    first = (export / "log.jsonl").read_bytes().split(b"\n")[0]
    number: str = json.loads(first)["certificate"]["number"]
    return number


def _verify(capsys: pytest.CaptureFixture[str], path: Path, trust: Path, *more: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = certverify(["proof", str(path), "--trust", str(trust), "--json", *more])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out), captured.err)


def _written(export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "c.tlog-proof"
    argv = ["bundle", _number(export), "--export", str(export), "--out", str(out), "--format", "tlog-proof"]
    assert certctl(argv) == 0
    assert "tlog-proof for" in capsys.readouterr().out
    return out


def test_certctl_writes_a_tlog_proof_that_certverify_verifies(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _written(export, tmp_path, capsys)
    assert path.read_bytes().startswith(b"c2sp.org/tlog-proof@v1\nextra ")
    code, (report, _) = _verify(capsys, path, export / "trust.json")
    assert code == 0 and report["ok"] and report["kind"] == "tlog-proof"
    assert report["certificate"] == _number(export) and report["checks"]["inclusion"] == 1
    newest = max(int(p.name) for p in (export / "checkpoints").iterdir())
    assert report["checkpoint"]["size"] == newest
    proof = TlogProof.parse(path.read_bytes())
    assert proof.checkpoint == (export / "checkpoints" / str(newest)).read_text()  # verbatim
    assert certverify(["proof", str(path), "--trust", str(export / "trust.json")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("VERIFIED")
    # The default format is still the proof bundle.
    bundle = tmp_path / "b.json"
    assert certctl(["bundle", _number(export), "--export", str(export), "--out", str(bundle)]) == 0
    assert json.loads(bundle.read_bytes())["kind"] == "certlife-proof-bundle"


def test_tampered_tlog_proofs_fail_with_exit_1_and_the_check(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proof = TlogProof.parse(_written(export, tmp_path, capsys).read_bytes())
    assert proof.extra is not None
    hashes = list(proof.proof)
    hashes[0] = bytes(32)
    root = base64.b64encode(proof.parsed.root_hash).decode()
    cases = [
        (
            "inclusion-proof",
            dataclasses.replace(proof, extra=proof.extra.replace(b'"recordedAt":"2', b'"recordedAt":"3')),
        ),
        ("not-canonical", dataclasses.replace(proof, extra=proof.extra.replace(b'"seq":', b'"seq": ', 1))),
        ("inclusion-proof", dataclasses.replace(proof, proof=tuple(hashes))),
        (
            "checkpoint-bad-signature",
            dataclasses.replace(proof, checkpoint=proof.checkpoint.replace(root, "A" * 43 + "=")),
        ),
    ]
    for n, (expected, tampered) in enumerate(cases):
        assert tampered != proof
        path = tmp_path / f"{n}.tlog-proof"
        path.write_bytes(tampered.to_bytes())
        code, (report, _) = _verify(capsys, path, export / "trust.json")
        assert (code, report["ok"], report["failure"]["code"]) == (1, False, expected)


def test_malformed_tlog_proofs_exit_2_with_one_line(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _written(export, tmp_path, capsys).read_text()
    path = tmp_path / "bad.tlog-proof"
    for bad in (
        text.replace("\nindex ", "\nindex 0", 1),
        text.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v9", 1),
        text.replace("\n\n", "\n", 1),
        "c2sp.org/tlog-proof@v1\n",
    ):
        path.write_text(bad)
        code, (report, err) = _verify(capsys, path, export / "trust.json")
        assert code == 2 and report == {"ok": False, "error": report["error"]}
        assert report["error"]["code"] == "malformed-tlog-proof"
        assert err.count("\n") == 1 and err.startswith("certverify: error: malformed tlog-proof: ")
        assert "Traceback" not in err


def test_the_spec_example_is_read_but_not_verified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.test_tlogproof import _spec_example

    b = LogBuilder()
    b.add("C-0000", "issued", "valid")
    b.checkpoint()
    b.write_export(tmp_path / "export")
    path = tmp_path / "example.tlog-proof"
    path.write_text(_spec_example())
    code, (report, _) = _verify(capsys, path, tmp_path / "export" / "trust.json")
    assert code == 1 and report["failure"]["code"] == "checkpoint-malformed"  # "[...]" is not base64


def test_known_size_needs_the_bundle_format(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bundle", _number(export), "--export", str(export), "--out", str(tmp_path / "x")]
    assert _exit([*argv, "--format", "tlog-proof", "--known-size", "50"]) == 2
    assert "--known-size needs --format bundle" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_key_records_a_tlog_proof_cannot_carry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = LogBuilder()
    b.issue_many(3)
    first_key = b.signer
    b.rotate("k1")
    b.add("C-0001", "withdrawn", "withdrawn")
    b.checkpoint()
    export = b.write_export(tmp_path / "rotated")
    proof, notes = tlog_proof_from_export(export, "C-0001")
    assert proof.index == len(b.records) - 1 and len(notes) == 1 and "rotation at index" in notes[0]
    out = tmp_path / "r.tlog-proof"
    assert (
        certctl(["bundle", "C-0001", "--export", str(export), "--out", str(out), "--format", "tlog-proof"])
        == 0
    )
    assert "certctl: note: the record's key" in capsys.readouterr().err
    code, (report, _) = _verify(capsys, out, export / "trust.json")
    assert code == 1 and report["failure"]["code"] == "unknown-key"
    b.compromise(first_key, 0)
    b.checkpoint()
    export = b.write_export(tmp_path / "compromised")
    with pytest.raises(BundleError, match="compromised from index 0"):
        tlog_proof_from_export(export, "C-0002")
    argv = ["bundle", "C-0002", "--export", str(export), "--out", str(out), "--format", "tlog-proof"]
    assert _exit(argv) == 1
    assert "use --format bundle" in capsys.readouterr().err


def test_a_cosigned_checkpoint_travels_and_meets_the_trust_files_witness_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from certlife.contracts.cosignature import CosignatureSigner, add_signature_lines
    from tests.unit.logbuilder import private_key

    b = LogBuilder()
    b.issue_many(4)
    size, note = len(b.records), b.sign_checkpoint()
    w1 = CosignatureSigner("w1.example/witness", private_key("w1"))
    w2 = CosignatureSigner("w2.example/witness", private_key("w2"))
    b.checkpoints.append((size, add_signature_lines(note, [w1.cosign(note[: note.rfind("\n\n") + 1], 1)])))
    witnesses = f"witness w1 {w1.vkey()}\nwitness w2 {w2.vkey()}\n"
    export = b.write_export(tmp_path / "export", b.trust().with_policy(witnesses + "quorum w1\n"))
    out = tmp_path / "w.tlog-proof"
    assert (
        certctl(["bundle", "C-0000", "--export", str(export), "--out", str(out), "--format", "tlog-proof"])
        == 0
    )
    assert "(2 signature line(s))" in capsys.readouterr().out
    code, (report, _) = _verify(capsys, out, export / "trust.json")
    assert code == 0 and report["checkpoint"]["cosignedBy"] == ["w1"]
    both = tmp_path / "both.json"
    both.write_bytes(b.trust().with_policy(witnesses + "group g all w1 w2\nquorum g\n").to_bytes())
    code, (report, _) = _verify(capsys, out, both)
    assert code == 1 and report["failure"]["code"] == "checkpoint-quorum"
