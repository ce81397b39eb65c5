"""Real headless Chromium for the browser tests: Debian's ``chromium`` package, driven by Playwright.

The browser is Debian's (``/usr/bin/chromium``), never one downloaded by
``playwright install``. On a fresh machine :func:`ensure_chromium` installs it
with ``apt-get install -y chromium`` (as root); when that cannot be done it
returns one line saying why, which the fixture turns into a test failure (never
a skip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
_APT_TIMEOUT = 900


def ensure_chromium() -> str:
    """Make sure ``/usr/bin/chromium`` exists; return "" or one line saying why it cannot."""
    if CHROMIUM.exists():
        return ""
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and apt-get is not available: install Debian's chromium package"
    if os.geteuid() != 0:
        return f"{CHROMIUM} is missing: run 'apt-get install -y chromium' as root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
    )
    for step in steps:
        if step[1] == "update" and _installable(env):
            continue  # the package lists already know chromium: no need to refresh them
        try:
            done = subprocess.run(
                step, env=env, capture_output=True, text=True, timeout=_APT_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return f"'{' '.join(step)}' did not finish in {_APT_TIMEOUT} s"
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            return f"'{' '.join(step)}' failed (exit {done.returncode}): {last}"
    if not CHROMIUM.exists():
        return f"apt-get installed chromium but {CHROMIUM} is still missing"
    return ""


def _installable(env: dict[str, str]) -> bool:
    done = subprocess.run(
        ["apt-cache", "policy", "chromium"], env=env, capture_output=True, text=True, check=False
    )
    return "Candidate:" in done.stdout and "Candidate: (none)" not in done.stdout
