"""Fixtures of the Go interop tests: the built Go programs and a certlife log to read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.gobuild import GoUnavailable, build
from tests.interop.harness import LogKeys, fixture_log


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
