"""A killed test run or benchmark leaves no service process running.

Service processes that tests start (``tests.procs.ServiceProcess``) ask Linux
to kill them when the thread that started them dies: a pytest stopped with
SIGKILL (or a benchmark) cannot leave a service consuming Kafka and using the
CPU of whatever runs next. The tiles server stands in for any service: it
needs neither Kafka nor PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.procs import ROOT

_STARTER = """
import sys, time
from pathlib import Path
from tests.procs import ServiceProcess, service_env
proc = ServiceProcess("tiles", service_env({}), Path(sys.argv[1]), args=[sys.argv[2], "--port", "0"]).start()
proc.wait_for_log("tiles: serving", timeout=60)
print(proc.pid, flush=True)
time.sleep(600)
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_service_started_by_a_killed_test_process_dies_with_it(tmp_path: Path) -> None:
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(tmp_path), str(tiles)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    service = 0
    try:
        assert starter.stdout is not None
        line = starter.stdout.readline()
        assert line.strip().isdigit(), f"the starter did not start the service: {line!r}"
        service = int(line)
        assert _alive(service)
        starter.send_signal(signal.SIGKILL)  # as a pytest killed mid-test
        starter.wait(10)
        deadline = time.monotonic() + 10
        while _alive(service) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(service), "the service outlived the process that started it"
    finally:
        starter.kill()
        starter.wait(10)
        if service and _alive(service):
            os.kill(service, signal.SIGKILL)
