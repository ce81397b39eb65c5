"""Fixtures of the Go interop tests: the built Go programs and a certlife log to read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.gobuild import GoUnavailable, build
from tests.interop.harness import LogKeys, fixture_log, go_tiles


@pytest.fixture(scope="session")
def go_bin() -> dict[str, Path]:
    """The Go programs of tests/interop/go, built once (cached across runs by source hash)."""
    try:
        return build()
    except GoUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def certlife_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LogKeys]:
    """A certlife export (about 600 records, checkpoints every 100) and its note keys."""
    return fixture_log(tmp_path_factory.mktemp("interop-export"))


@pytest.fixture(scope="session")
def go_tiles_dir(
    go_bin: dict[str, Path], certlife_log: tuple[Path, LogKeys], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The fixture log's tiles as Go's tlog writes them (checkpoint sizes in turn, then the newest)."""
    export, keys = certlife_log
    out = tmp_path_factory.mktemp("go-tiles") / "tiles"
    go_tiles(go_bin, export, keys, out)
    return out
