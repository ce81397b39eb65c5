"""Run certlife service processes from tests, as separate OS processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from certlife.services.infra.supervisor import ServiceProcess as _ServiceProcess

ROOT = Path(__file__).parents[1]

__all__ = ["ROOT", "ServiceProcess", "kill_started", "service_env"]

_started: list[_ServiceProcess] = []


class ServiceProcess(_ServiceProcess):
    """A service process that the test session kills after its test, even when the test fails.

    It dies with the test session too (SIGKILL when the thread that started it ends): a
    killed pytest leaves no service consuming or using the CPU.
    """

    def start(self, *, restart: bool = False) -> ServiceProcess:
        """Start it (to die with this thread, as the supervisor's children do) and remember it for
        :func:`kill_started`."""
        if self.parent_death_signal is None:
            self.parent_death_signal = signal.SIGKILL
        super().start(restart=restart)
        _started.append(self)
        return self


def kill_started() -> None:
    """Kill every service process started since the last call (the end of the previous test)."""
    while _started:
        _started.pop().kill()


def service_env(base: dict[str, str]) -> dict[str, str]:
    """The current environment, the admin's Kafka principal, and ``base``; secrets only via files."""
    from tests.kafka import admin_env

    env = dict(os.environ)
    env.update(admin_env())
    env.update(base)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
