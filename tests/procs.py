"""Run certlife service processes from tests, as separate OS processes."""

from __future__ import annotations

import os
from pathlib import Path

from services.supervisor import ServiceProcess

ROOT = Path(__file__).parents[1]

__all__ = ["ROOT", "ServiceProcess", "service_env"]


def service_env(base: dict[str, str]) -> dict[str, str]:
    """The current environment plus ``base``; secrets only via the environment."""
    env = dict(os.environ)
    env.update(base)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
