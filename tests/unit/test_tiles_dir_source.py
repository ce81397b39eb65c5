"""A local tiles directory (the publisher's) as a certverify SOURCE: same report as the export; damage is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certlife.contracts.tiles import entries_path
from certlife.services.demo.fixtures import generate
from certlife.services.partner.certverify import main
from tests.unit.tiles_helpers import write_tiles

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tilesdir") / "export"
    generate(out, certificates=120, seed=3, checkpoint_every=100, workers=0)
    return out


@pytest.fixture
def tiles(export: Path, tmp_path: Path) -> Path:
    size = max(int(p.name) for p in (export / "checkpoints").iterdir())
    note = (export / "checkpoints" / str(size)).read_text()
    records = (export / "log.jsonl").read_bytes().split(b"\n")[:size]
    return write_tiles(tmp_path / "tiles", records, note)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_log_over_a_tiles_directory(export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trust = str(export / "trust.json")
    code, report = _json(capsys, "log", str(tiles), "--trust", trust, "--jobs", "1")
    size = max(int(p.name) for p in (export / "checkpoints").iterdir())
    assert code == 0 and report["records"] == size and report["unanchored"] == 0
    assert report["latestCheckpoint"]["size"] == size


def test_a_tampered_bundle_fails_and_a_missing_one_is_an_input_error(
    export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = str(export / "trust.json")
    bundle = tiles / entries_path(0)
    data = bytearray(bundle.read_bytes())
    at = data.index(b'"holder":"') + len(b'"holder":"')
    data[at] = ord("X") if data[at] != ord("X") else ord("Y")  # still canonical JSON, another holder
    bundle.write_bytes(bytes(data))
    code, report = _json(capsys, "log", str(tiles), "--trust", trust, "--jobs", "1")
    assert code == 1 and report["failure"]["code"] in {"bad-signature", "root-mismatch"}
    bundle.unlink()
    assert main(["log", str(tiles), "--trust", trust]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "entry bundle" in err


def test_status_and_status_at_over_a_tiles_directory(
    export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``certverify status NUMBER DIR`` (also ``--at``) answers from the tiles as from the export."""
    trust = str(export / "trust.json")
    number = json.loads((export / "log.jsonl").read_bytes().split(b"\n")[0])["certificate"]["number"]
    for extra in ([], ["--at", "2100-01-01T00:00:00Z"]):
        answers = []
        for source in (export, tiles):
            code, report = _json(
                capsys, "status", number, str(source), "--trust", trust, "--jobs", "1", *extra
            )
            answers.append((code, report["answer"]["status"], report["answer"]["index"]))
        assert answers[0] == answers[1] and answers[0][0] == 0, answers
