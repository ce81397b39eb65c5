"""The export's ``statuslists/`` and ``issuer.json``: only lists the exported log commits, the newest as ``<purpose>``.

The lists are taken from a publisher's tiles directory as it leaves them
(``<purpose>.<N>`` and ``<purpose>``); an export written this way verifies a
credential with ``certverify credential --export DIR`` and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from certlife.contracts.trust import TrustedKey
from certlife.services.partner.certverify import main as certverify
from certlife.services.partner.export import ExportWriter
from certlife.services.partner.published import Commitments, issuer_document
from tests.unit.cv_credential_helpers import credential, credential_signer, status_lists
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _publisher_dir(tiles: Path, lists: dict[str, bytes], size: int) -> None:
    """Write lists as the publisher does: ``<purpose>.<N>`` and the newest as ``<purpose>``."""
    folder = tiles / "statuslists"
    folder.mkdir(parents=True, exist_ok=True)
    for purpose, data in lists.items():
        (folder / f"{purpose}.{size}").write_bytes(data)
        (folder / purpose).write_bytes(data)


def _export(b: LogBuilder, directory: Path, tiles: Path, trust_keys: bool = True) -> dict[str, bytes]:
    commitments = Commitments()
    trust = b.trust()
    if trust_keys:
        c1 = credential_signer("c1")
        trust = replace(trust, credential_keys=(TrustedKey(c1.key_id, c1.public_raw, 3),))
    with ExportWriter(directory) as writer:
        for raw in b.records:
            writer.append(raw)
            commitments.see(raw)
        for size, note in b.checkpoints:
            writer.write_checkpoint(size, note)
        writer.write_trust(trust)
        lists = commitments.lists(tiles)
        writer.write_published(lists, issuer_document(trust))
    return lists


def test_only_committed_lists_are_exported_and_the_newest_is_named_by_purpose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.add("B-1", "issued", "valid")
    b.announce_credential_key("c1")  # 2
    c1 = credential_signer("c1")
    tiles = tmp_path / "tiles"
    first = status_lists(b, c1)  # of 3 records, committed at 3, 4
    _publisher_dir(tiles, first, 3)
    b.add("A-1", "amended", "valid")  # 5
    b.add("B-1", "revoked", "revoked")  # 6
    second = status_lists(b, c1)  # of 7, committed at 7, 8
    _publisher_dir(tiles, second, 7)
    _publisher_dir(tiles, status_lists(b, c1, commit=False), 9)  # built, never committed
    b.checkpoint()
    export = tmp_path / "export"
    lists = _export(b, export, tiles)
    assert sorted(lists) == [
        "revocation",
        "revocation.3",
        "revocation.7",
        "suspension",
        "suspension.3",
        "suspension.7",
    ]
    folder = export / "statuslists"
    assert sorted(p.name for p in folder.iterdir()) == sorted(lists)
    assert (folder / "revocation").read_bytes() == second["revocation"]
    issuer = json.loads((export / "issuer.json").read_bytes())
    assert issuer["assertionMethod"] == [f"https://{b.origin}/issuer#{c1.key_id}"]
    (tmp_path / "c.json").write_bytes(credential(b, "A-1", c1))
    assert certverify(["credential", str(tmp_path / "c.json"), "--export", str(export), "--jobs", "1"]) == 0
    capsys.readouterr()
    (tmp_path / "b.json").write_bytes(credential(b, "B-1", c1))
    assert certverify(["credential", str(tmp_path / "b.json"), "--export", str(export), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["failure"]["code"] == "status-revoked"


def test_a_list_whose_bytes_differ_from_the_commitment_is_left_out(tmp_path: Path) -> None:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.announce_credential_key("c1")
    lists = status_lists(b, credential_signer("c1"))
    b.checkpoint()
    tiles = tmp_path / "tiles"
    _publisher_dir(tiles, {"revocation": lists["revocation"] + b" ", "suspension": lists["suspension"]}, 2)
    exported = _export(b, tmp_path / "export", tiles)
    assert sorted(exported) == ["suspension", "suspension.2"]


def test_a_re_export_drops_lists_the_new_log_does_not_commit(tmp_path: Path) -> None:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.announce_credential_key("c1")
    lists = status_lists(b, credential_signer("c1"))
    b.checkpoint()
    tiles, export = tmp_path / "tiles", tmp_path / "export"
    _publisher_dir(tiles, lists, 2)
    assert _export(b, export, tiles)
    other = LogBuilder()
    other.add("A-1", "issued", "valid")
    other.checkpoint()
    assert _export(other, export, tiles, trust_keys=False) == {}
    assert list((export / "statuslists").iterdir()) == []
    assert json.loads((export / "issuer.json").read_bytes())["verificationMethod"] == []
