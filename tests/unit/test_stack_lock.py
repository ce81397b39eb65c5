"""``certctl stack up``/``down`` run one at a time (two test runs starting the stack at once
both launched a broker; the loser's pid file then named a dead process)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from certlife.services.infra.stack import _exclusive
from certlife.services.infra.stack.settings import StackSettings

pytestmark = pytest.mark.unit


def test_up_and_down_exclude_each_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTLIFE_HOME", str(tmp_path))
    settings = StackSettings.from_env()
    events: list[str] = []

    def second() -> None:
        with _exclusive(settings):
            events.append("second in")

    with _exclusive(settings):
        events.append("first in")
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.3)  # the second starter waits for the first
        events.append("first out")
    other.join(5)
    assert events == ["first in", "first out", "second in"]
