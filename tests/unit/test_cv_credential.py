"""``certverify credential FILE --export DIR``: every failure code, the report, the evidence, the inputs."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from certlife.contracts.credentials.bitstring import encode_list
from certlife.contracts.merkle import leaf_hash, verify_inclusion
from certlife.contracts.records import RecordSigner
from certlife.services.partner.certverify import main
from tests.unit.cv_credential_helpers import credential, credential_signer, status_lists, write_lists
from tests.unit.logbuilder import LogBuilder
from tests.unit.tiles_helpers import serve_tiles, write_tiles

pytestmark = pytest.mark.unit


def _log() -> tuple[LogBuilder, RecordSigner, dict[str, bytes]]:
    """A-1 valid, B-1 suspended (index 4), C-1 revoked (5); credential key c1 from index 4; lists of 6."""
    b = LogBuilder()
    b.add("A-1", "issued", "valid")  # 0
    b.add("B-1", "issued", "valid")  # 1
    b.add("C-1", "issued", "valid")  # 2
    b.announce_credential_key("c1")  # 3
    b.add("B-1", "suspended", "suspended")  # 4
    b.add("C-1", "revoked", "revoked")  # 5
    c1 = credential_signer("c1")
    lists = status_lists(b, c1)  # committed at 6 (revocation) and 7 (suspension)
    b.checkpoint()
    return b, c1, lists


def _export(tmp_path: Path, b: LogBuilder, lists: dict[str, bytes] | None) -> Path:
    out = b.write_export(tmp_path / "export")
    if lists is not None:
        write_lists(out, lists)
    return out


def _verify(capsys: pytest.CaptureFixture[str], export: Path, cred: bytes, *extra: str) -> tuple[int, Any]:
    path = export.parent / "credential.json"
    path.write_bytes(cred)
    code = main(["credential", str(path), "--export", str(export), "--json", "--jobs", "1", *extra])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return code, json.loads(out)


def _code(report: dict[str, Any]) -> str:
    return str(report["failure"]["code"])


def test_a_valid_credential_verifies_with_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b, c1, lists = _log()
    export = _export(tmp_path, b, lists)
    code, report = _verify(capsys, export, credential(b, "A-1", c1, log_size=6))
    assert code == 0 and report["ok"] is True and report["failure"] is None
    cred = report["credential"]
    assert (cred["number"], cred["recordIndex"], cred["listIndex"], cred["logSize"]) == ("A-1", 0, 0, 6)
    assert [(s["purpose"], s["committedAt"], s["logSize"]) for s in report["statusLists"]] == [
        ("revocation", 6, 6),
        ("suspension", 7, 6),
    ]
    assert report["checks"] == {"credential": 1, "credential-record": 1, "statuslist": 2, "status": 2}
    evidence = report["evidence"]
    assert [r["index"] for r in evidence["records"]] == [0, 6, 7] and evidence["treeSize"] == 8
    root = base64.b64decode(report["log"]["latestCheckpoint"]["root"])
    for entry in evidence["records"]:
        proof = [base64.b64decode(h) for h in entry["proof"]]
        verify_inclusion(leaf_hash(entry["record"].encode()), entry["index"], 8, proof, root)


def test_human_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b, c1, lists = _log()
    export = _export(tmp_path, b, lists)
    (tmp_path / "c.json").write_bytes(credential(b, "A-1", c1, log_size=6))
    assert main(["credential", str(tmp_path / "c.json"), "--export", str(export)]) == 0
    out = capsys.readouterr().out
    assert "certificate A-1 (valid), record index 0 (seq 1), log size 6, list index 0" in out
    assert "revocation list: log size 6, committed at index 6" in out
    assert out.rstrip().endswith("VERIFIED")


@pytest.mark.parametrize(("number", "code"), [("B-1", "status-suspended"), ("C-1", "status-revoked")])
def test_status_bits(tmp_path: Path, capsys: pytest.CaptureFixture[str], number: str, code: str) -> None:
    b, c1, lists = _log()
    export = _export(tmp_path, b, lists)
    exit_code, report = _verify(capsys, export, credential(b, number, c1, log_size=6))
    assert (exit_code, _code(report), report["failure"]["check"]) == (1, code, "status")


def test_tampered_credential_fails_its_signature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b, c1, lists = _log()
    export = _export(tmp_path, b, lists)
    doc = json.loads(credential(b, "A-1", c1, log_size=6))
    doc["credentialSubject"]["holder"] = "Someone Else GmbH"
    code, report = _verify(capsys, export, json.dumps(doc).encode())
    assert (code, _code(report)) == (1, "credential-signature")


def test_credential_disagreeing_with_its_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b, c1, lists = _log()
    export = _export(tmp_path, b, lists)
    code, report = _verify(capsys, export, credential(b, "A-1", c1, log_size=6, list_index=2))
    assert (code, _code(report), report["failure"]["check"]) == (
        1,
        "credential-mismatch",
        "credential-record",
    )


def test_credential_older_than_the_latest_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b, c1, lists = _log()
    export = _export(tmp_path, b, lists)
    code, report = _verify(capsys, export, credential(b, "B-1", c1, log_size=6, seq=1))
    assert (code, _code(report)) == (1, "credential-superseded")
    assert report["failure"]["index"] == 4 and "suspended" in report["failure"]["message"]


def test_key_unknown_not_yet_valid_and_compromised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b, c1, lists = _log()
    export = _export(tmp_path, b, lists)
    code, report = _verify(capsys, export, credential(b, "A-1", credential_signer("zz"), log_size=6))
    assert (code, _code(report)) == (1, "credential-key-unknown")
    code, report = _verify(capsys, export, credential(b, "A-1", c1, log_size=3))  # c1 is in force from 4
    assert (code, _code(report)) == (1, "credential-key-out-of-range")
    b.compromise(c1, 5)
    b.checkpoint()
    export = _export(tmp_path / "later", b, lists)
    code, report = _verify(capsys, export, credential(b, "A-1", c1, log_size=6))
    assert (code, _code(report)) == (1, "credential-key-compromised")


def test_status_list_not_committed_stale_or_flipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b, c1, old = _log()
    b.add("A-1", "amended", "valid")  # 8
    new = status_lists(b, c1)  # committed at 9 and 10
    uncommitted = status_lists(b, c1, commit=False)  # as of 11 records: never committed
    b.checkpoint()
    cred = credential(b, "A-1", c1)
    export = _export(tmp_path, b, new)
    assert _verify(capsys, export, cred)[0] == 0
    for lists, code in ((uncommitted, "statuslist-not-committed"), (old, "statuslist-stale")):
        given = []
        for purpose, data in lists.items():
            (tmp_path / purpose).write_bytes(data)
            given += ["--status-list", str(tmp_path / purpose)]
        exit_code, report = _verify(capsys, export, cred, *given)
        assert (exit_code, _code(report), report["failure"]["check"]) == (1, code, "statuslist")
    doc = json.loads(new["revocation"])
    doc["credentialSubject"]["encodedList"] = encode_list({0}, 131072)  # A-1's bit, proof kept
    (tmp_path / "flipped").write_bytes(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())
    exit_code, report = _verify(capsys, export, cred, "--status-list", str(tmp_path / "flipped"))
    assert (exit_code, _code(report)) == (1, "statuslist-signature")


def test_a_list_older_than_the_credential_is_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b, c1, lists = _log()
    b.add("A-1", "amended", "valid")  # 8, after the only committed lists
    b.checkpoint()
    export = _export(tmp_path, b, lists)
    code, report = _verify(capsys, export, credential(b, "A-1", c1))
    assert (code, _code(report)) == (1, "statuslist-stale")


def test_status_lists_by_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b, c1, lists = _log()
    export = _export(tmp_path, b, None)
    served = tmp_path / "served"
    served.mkdir()
    write_lists(served, lists)
    with serve_tiles(served) as server:
        urls = [f"{server.url}statuslists/{p}" for p in ("revocation", "suspension")]
        args = ["--status-list", urls[0], "--status-list", urls[1]]
        code, report = _verify(capsys, export, credential(b, "A-1", c1, log_size=6), *args)
        assert code == 0 and [s["source"] for s in report["statusLists"]] == urls
        cred = export.parent / "credential.json"  # written by _verify
        code = main(
            ["credential", str(cred), "--export", str(export), "--status-list", f"{server.url}nothing"]
        )
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "HTTP 404" in err


def test_usage_and_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b, c1, lists = _log()
    export = _export(tmp_path, b, lists)
    (tmp_path / "c.json").write_bytes(credential(b, "A-1", c1, log_size=6))
    for argv in (
        ["credential", str(tmp_path / "c.json")],
        ["credential", str(tmp_path / "missing.json"), "--export", str(export)],
        ["credential", str(tmp_path / "c.json"), "--export", "kafka://127.0.0.1:1"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
    (tmp_path / "bad.json").write_bytes(b"not json")
    code, report = _verify(capsys, export, b"{}")
    assert (code, _code(report), report["failure"]["check"]) == (1, "credential-format", "credential")


def test_the_log_from_a_tiles_directory_or_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--export`` may be the publisher's tiles directory (its statuslists/ used) or its URL, with ``--trust``."""
    b, c1, lists = _log()
    export = _export(tmp_path, b, None)
    size, note = b.checkpoints[-1]
    tiles = write_tiles(tmp_path / "tiles", b.records[:size], note)
    write_lists(tiles, lists)
    cred = tmp_path / "credential.json"
    cred.write_bytes(credential(b, "A-1", c1, log_size=6))
    trust = ["--trust", str(export / "trust.json"), "--json", "--jobs", "1"]
    assert main(["credential", str(cred), "--export", str(tiles), *trust]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["log"]["records"] == size
    with serve_tiles(tiles) as server:
        lists_given = [f"--status-list={server.url}statuslists/{p}" for p in ("revocation", "suspension")]
        assert main(["credential", str(cred), "--export", server.url, *trust, *lists_given]) == 0
        assert json.loads(capsys.readouterr().out)["ok"]
        assert main(["credential", str(cred), "--export", str(tiles), "--json"]) == 2  # no trust.json there
        assert "trust" in capsys.readouterr().err


def test_an_expired_certificate_sets_no_bit_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CREDENTIALS.md §4/§9: expiry is not a status bit and no clock is consulted; the credential says it."""
    b = LogBuilder()
    b.add("A-1", "issued", "valid")  # 0
    b.announce_credential_key("c1")  # 1
    b.add("A-1", "expired", "expired")  # 2
    c1 = credential_signer("c1")
    lists = status_lists(b, c1)  # committed at 3 and 4
    b.checkpoint()
    export = _export(tmp_path, b, lists)
    code, report = _verify(capsys, export, credential(b, "A-1", c1, log_size=3))
    assert (code, report["credential"]["status"], report["credential"]["recordIndex"]) == (0, "expired", 2)
