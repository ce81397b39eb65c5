"""``certctl credential NUMBER``: built from the verified log, signed by the credential key in force.

The credential key sits in a keystore directory as ``certctl keys credential``
leaves it; the log is an export or the publisher's tiles directory. What it
writes verifies with ``certverify credential`` and equals the credential the
contracts' builder makes from the same record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certlife.services.cli.certctl import main as certctl
from certlife.services.partner.certverify import main as certverify
from certlife.services.relay.keystore import write_private_key
from tests.unit.cv_credential_helpers import credential, credential_signer, status_lists, write_lists
from tests.unit.logbuilder import LogBuilder, private_key
from tests.unit.tiles_helpers import write_tiles

pytestmark = pytest.mark.unit

PASSPHRASE = "credential-test-passphrase"


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LogBuilder, dict[str, bytes]]:
    """A-1 valid, B-1 revoked; credential key c1 announced at 2 (in its keystore), lists committed."""
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.add("B-1", "issued", "valid")
    b.announce_credential_key("c1")
    b.add("B-1", "revoked", "revoked")
    lists = status_lists(b, credential_signer("c1"))
    b.checkpoint()
    keys = tmp_path / "keys"
    keys.mkdir()
    kid = credential_signer("c1").key_id
    write_private_key(keys / f"credential-{kid}.pem", private_key("c1"), PASSPHRASE.encode())
    monkeypatch.setenv("CERTLIFE_KEYS_DIR", str(keys))
    monkeypatch.setenv("CERTLIFE_KEY_PASSPHRASE", PASSPHRASE)
    return b, lists


def _export(log: tuple[LogBuilder, dict[str, bytes]], directory: Path) -> Path:
    export = log[0].write_export(directory)
    write_lists(export, log[1])
    return export


def test_credential_from_an_export_verifies(
    log: tuple[LogBuilder, dict[str, bytes]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _export(log, tmp_path / "export")
    out = tmp_path / "a1.json"
    assert certctl(["credential", "A-1", "--log", str(export), "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert "credential for A-1: record 0 (seq 1, valid), list index 0, checkpoint of size 6" in said.out
    assert PASSPHRASE not in said.out + said.err
    assert out.read_bytes().rstrip(b"\n") == credential(log[0], "A-1", credential_signer("c1"))
    assert certverify(["credential", str(out), "--export", str(export), "--jobs", "1"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("VERIFIED")


def test_default_log_is_the_publishers_tiles_directory(
    log: tuple[LogBuilder, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    b, lists = log
    size, note = b.checkpoints[-1]
    tiles = write_tiles(tmp_path / "tiles", b.records[:size], note)
    write_lists(tiles, lists)
    monkeypatch.setenv("CERTLIFE_TILES_DIR", str(tiles))
    trust = tmp_path / "trust.json"
    trust.write_bytes(b.trust().to_bytes())
    assert certctl(["credential", "B-1", "--trust", str(trust)]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert (
        doc["credentialSubject"]["status"] == "revoked"
        and doc["credentialSubject"]["logRecord"]["index"] == 3
    )
    assert "list index 1" in captured.err
    (tmp_path / "b1.json").write_text(captured.out)
    code = certverify(
        ["credential", str(tmp_path / "b1.json"), "--export", str(tiles), "--trust", str(trust), "--json"]
    )
    assert code == 1 and json.loads(capsys.readouterr().out)["failure"]["code"] == "status-revoked"


def test_no_key_in_force_unknown_certificate_missing_log(
    log: tuple[LogBuilder, dict[str, bytes]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.checkpoint()
    bare = b.write_export(tmp_path / "bare")
    export = _export(log, tmp_path / "export")
    for argv, code, text in (
        (["credential", "A-1", "--log", str(bare)], 1, "no credential key is in force at index 0"),
        (["credential", "Z-9", "--log", str(export)], 1, "certificate Z-9 has no record"),
        (["credential", "A-1", "--log", str(tmp_path / "nothing")], 2, "nothing"),
    ):
        with pytest.raises(SystemExit) as caught:
            certctl(argv)
        err = capsys.readouterr().err
        assert caught.value.code == code and err.count("\n") == 1 and text in err, err


def test_a_tampered_log_is_refused(
    log: tuple[LogBuilder, dict[str, bytes]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _export(log, tmp_path / "export")
    lines = (export / "log.jsonl").read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b"Acme Charging GmbH", b"Acme Chargers GmbH", 1)
    (export / "log.jsonl").write_bytes(b"\n".join(lines))
    with pytest.raises(SystemExit) as caught:
        certctl(["credential", "A-1", "--log", str(export), "--out", str(tmp_path / "x.json")])
    assert caught.value.code == 1 and "the log does not verify" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
