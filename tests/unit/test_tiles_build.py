"""``certctl tiles build``: tiles from an export, byte-identical on rebuild, refused for a log that does not hash."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from certlife.contracts.notes import Checkpoint, note_signatures
from certlife.contracts.tiles import TiledHashes, decode_entries, entries_path, tile_path, tile_width
from certlife.services.demo.fixtures import generate
from certlife.services.tiles.build import TilesBuildError, build_tiles

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    generate(out, 250, seed=3, checkpoint_every=200, workers=0)
    return out


def files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def records(export: Path) -> list[bytes]:
    return (export / "log.jsonl").read_bytes().split(b"\n")[:-1]


def read_tiles(directory: Path) -> tuple[Checkpoint, TiledHashes]:
    checkpoint = Checkpoint.parse(note_signatures((directory / "checkpoint").read_text())[0])
    read = lambda level, index, width: (directory / tile_path(level, index, width)).read_bytes()  # noqa: E731
    return checkpoint, TiledHashes(read, checkpoint.size, checkpoint.root_hash)


def test_tiles_hold_the_export_and_rebuild_byte_identically(export: Path, tmp_path: Path) -> None:
    result = build_tiles(export, tmp_path / "a")
    log = records(export)
    assert (result.size, result.appended, result.signature_checked) == (len(log), len(log), True)
    checkpoint, hashes = read_tiles(tmp_path / "a")
    assert checkpoint.size == len(log)
    entries: list[bytes] = []
    for n in range((checkpoint.size + 255) // 256):
        width = tile_width(0, n, checkpoint.size)
        bundle = decode_entries((tmp_path / "a" / entries_path(n, width)).read_bytes(), width)
        hashes.verify_entries(n, bundle)
        entries += bundle
    assert entries == log  # the entries are the exact record bytes
    build_tiles(export, tmp_path / "b")
    assert files(tmp_path / "a") == files(tmp_path / "b")
    again = build_tiles(export, tmp_path / "a")  # nothing new: nothing appended, same files
    assert again.appended == 0 and files(tmp_path / "a") == files(tmp_path / "b")


def _truncated(export: Path, size: int, out: Path) -> Path:
    """A copy of ``export`` as it was at checkpoint ``size``."""
    shutil.copytree(export, out)
    (out / "log.jsonl").write_bytes(b"".join(r + b"\n" for r in records(export)[:size]))
    for cp in (out / "checkpoints").iterdir():
        if int(cp.name) > size:
            cp.unlink()
    return out


def test_extending_from_an_older_export_gives_the_same_tiles(export: Path, tmp_path: Path) -> None:
    older = _truncated(export, 200, tmp_path / "older")
    assert build_tiles(older, tmp_path / "inc").size == 200
    result = build_tiles(export, tmp_path / "inc")
    assert result.appended == result.size - 200
    build_tiles(export, tmp_path / "one")
    one, inc = files(tmp_path / "one"), files(tmp_path / "inc")
    assert all(inc[name] == data for name, data in one.items())
    assert all(".p/" in name for name in inc.keys() - one.keys())
    with pytest.raises(TilesBuildError, match="newer than 200"):
        build_tiles(older, tmp_path / "inc")


def test_an_export_that_does_not_hash_to_its_checkpoint_is_refused_before_writing(
    export: Path, tmp_path: Path
) -> None:
    bad = _truncated(export, len(records(export)), tmp_path / "bad")
    log = records(bad)
    log[7] = log[7].replace(b'"seq":', b'"seq": ', 1)
    (bad / "log.jsonl").write_bytes(b"".join(r + b"\n" for r in log))
    with pytest.raises(TilesBuildError, match="does not hash to the root"):
        build_tiles(bad, tmp_path / "tiles")
    assert files(tmp_path / "tiles") == {}


def test_a_tiles_directory_of_another_log_is_refused(export: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate(other, 120, seed=4, checkpoint_every=200, workers=0)
    build_tiles(other, tmp_path / "tiles")
    with pytest.raises(TilesBuildError, match="holds another log"):
        build_tiles(export, tmp_path / "tiles")


def test_a_checkpoint_signed_by_an_unknown_key_is_refused(export: Path, tmp_path: Path) -> None:
    bad = _truncated(export, len(records(export)), tmp_path / "bad")
    trust = json.loads((bad / "trust.json").read_text())
    other = tmp_path / "other"
    generate(other, 5, seed=99, workers=0)
    trust["noteKeys"] = json.loads((other / "trust.json").read_text())["noteKeys"]
    (bad / "trust.json").write_text(json.dumps(trust))
    with pytest.raises(TilesBuildError):
        build_tiles(bad, tmp_path / "tiles")


def _certctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_certctl_tiles_build(export: Path, tmp_path: Path) -> None:
    done = _certctl("tiles", "build", "--export", str(export), "--out", str(tmp_path / "t"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"tiles: {tmp_path / 't'} holds {len(records(export))} records")
    missing = _certctl("tiles", "build", "--export", str(tmp_path / "nope"), "--out", str(tmp_path / "u"))
    assert missing.returncode != 0
    assert missing.stderr.startswith("certctl: error:") and len(missing.stderr.strip().splitlines()) == 1
