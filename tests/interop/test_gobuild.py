"""The Go harness build: cached by source hash, and one clear error (never a skip) without Go or modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop import gobuild

pytestmark = pytest.mark.integration


def test_a_second_build_reuses_the_cached_binaries(go_bin: dict[str, Path]) -> None:
    assert set(go_bin) == set(gobuild.PROGRAMS)
    assert gobuild.cache_root() in go_bin["litewitness"].parents
    before = {name: path.stat().st_mtime_ns for name, path in go_bin.items()}
    again = gobuild.build()
    assert again == go_bin and {name: path.stat().st_mtime_ns for name, path in again.items()} == before


def test_without_go_on_path_the_build_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(gobuild.GoUnavailable, match=r"^the Go toolchain is not on PATH: install Go"):
        gobuild.build()


def test_without_the_module_proxy_on_a_cold_cache_the_build_names_the_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTLIFE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "modcache"))
    monkeypatch.setenv("GOPROXY", "off")
    with pytest.raises(gobuild.GoUnavailable, match=r"needs the Go module proxy \(GOPROXY=off\)") as failure:
        gobuild.build()
    assert "\n" not in str(failure.value)
    assert not any((tmp_path / "home" / "interop-bin").iterdir())  # no half-built directory left
