"""Worker processes go with the process that started them, even after its SIGKILL.

Without ``certlife.services.infra.workers.exit_with_parent`` a ``forkserver``
pool's workers wait on their call queue for ever once their parent is killed,
and keep the fork server alive with them; without ``quiet_resource_tracker`` the
resource tracker then warns about the pool's semaphores on the parent's stderr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

STARTERS = {
    "relay builder": (
        "import asyncio\n"
        "from certlife.services.relay.builder import RecordBuilder, _ready\n"
        "b = RecordBuilder('certlife.example/log', workers=2)\n"
        "for f in [b._worker().submit(_ready) for _ in range(4)]: f.result()\n"
        "pids = list(b._pool._processes)\n"
    ),
    "verifier pool": (
        "from certlife.services.partner.parallel import WorkerPool\n"
        "p = WorkerPool(2)\n"
        "p.start()\n"
        "pids = list(p._pool._processes)\n"
    ),
}


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("name", sorted(STARTERS))
def test_workers_and_their_fork_server_end_when_the_parent_is_killed(name: str) -> None:
    code = STARTERS[name] + "import json, time\nprint(json.dumps(pids), flush=True)\ntime.sleep(120)\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        workers = json.loads(proc.stdout.readline())
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        servers = {_ppid(pid) for pid in workers} - {proc.pid}  # forkserver children
        assert servers, "the workers should be the fork server's children"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in [*workers, *servers]):
            time.sleep(0.05)
        left = [pid for pid in [*workers, *servers] if _alive(pid)]
        for pid in left:  # do not leak them into the rest of the suite
            os.kill(pid, signal.SIGKILL)
        assert left == [], f"{name}: still running after the parent's SIGKILL: {left}"
        # the resource tracker removed the pool's semaphores without a word in the (inherited) log
        _, err = proc.communicate(timeout=20)
        assert "resource_tracker" not in err and "leaked" not in err, err
    finally:
        proc.kill()
