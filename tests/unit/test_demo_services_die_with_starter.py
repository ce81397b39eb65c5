"""The services a benchmark or test starts through ``DemoRun.start_services`` die with their starter.

``tests/integration/test_orphans.py`` shows the kernel side (a SIGKILLed starter
takes its service along); this checks that ``start_services`` asks for it.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from certlife.services.demo import setup


class _Recorded:
    """Stands in for a ServiceProcess: records how it was made, starts nothing."""

    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, service: str, env: dict[str, str], log_dir: Path, **options: Any) -> None:
        self.service = service
        _Recorded.made.append({"service": service, **options})

    def start(self) -> _Recorded:
        return self

    def wait_for_log(self, needle: str, timeout: float = 30) -> None:
        return None


def test_start_services_asks_for_each_service_to_die_with_its_starter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(setup, "ServiceProcess", _Recorded)
    _Recorded.made.clear()
    run = SimpleNamespace(service_env=lambda name: {}, directory=tmp_path)
    setup.DemoRun.start_services(run, ("--log-level", "DEBUG"))  # type: ignore[arg-type]
    assert [m["service"] for m in _Recorded.made] == list(setup.SERVICES)
    assert all(m["parent_death_signal"] == signal.SIGKILL for m in _Recorded.made), _Recorded.made
    assert all(m["args"] == ("--log-level", "DEBUG") for m in _Recorded.made)
