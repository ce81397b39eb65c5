"""Long reads show a progress bar on a terminal and nothing elsewhere."""

from __future__ import annotations

import io

import pytest

from certlife.services.partner.sources import LogSource, with_progress

pytestmark = pytest.mark.unit


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _source() -> LogSource:
    return LogSource("kafka://test", [(i, b"{}") for i in range(1, 51)], [], 50, "rec")


def test_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    assert [p for p, _ in with_progress(_source(), "exporting")] == list(range(1, 51))
    assert "exporting:" in err.getvalue() and "/50" in err.getvalue()  # redrawn at most every 0.1 s


def test_no_bar_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert len(list(with_progress(_source(), "exporting"))) == 50
    assert err.getvalue() == ""
