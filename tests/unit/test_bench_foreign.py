"""The benchmark runner's foreign-load watch names a busy process outside the benchmark, and only such."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from bench.foreign import MARK, WARN_CORES, Foreign, ForeignCpu

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")


@pytest.fixture
def spinner() -> Iterator[subprocess.Popen[bytes]]:
    """A process that keeps one core busy until the test ends."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def _watch(roots: list[int], seconds: float = 1.0) -> Foreign:
    watch = ForeignCpu(roots)
    time.sleep(seconds)
    return watch.stop()


def test_a_busy_process_outside_the_benchmark_is_named_and_counted(
    spinner: subprocess.Popen[bytes],
) -> None:
    seen = _watch([])  # this test process is no benchmark tree: its spinning child is foreign
    spinning = [cores for _, pid, cores in seen.busiest if pid == spinner.pid]
    assert spinning and spinning[0] >= 0.3, seen.describe()
    assert seen.cores >= spinning[0] > WARN_CORES
    assert seen.busy and "figures suspect" in seen.describe()


def test_the_benchmarks_own_descendants_are_not_foreign(spinner: subprocess.Popen[bytes]) -> None:
    seen = _watch([os.getpid()])
    assert spinner.pid not in [pid for _, pid, _ in seen.busiest], seen.describe()


def test_a_process_carrying_the_runs_mark_is_the_benchmarks_wherever_it_hangs() -> None:
    # Outside the given trees (as an orphan, now process 1's child, or the stack's server would be):
    # only its environment says whose it is.
    marked = subprocess.Popen([sys.executable, "-c", "while True: pass"], env={**os.environ, MARK: "run-1"})
    try:
        this_run, other_run = ForeignCpu([], "run-1"), ForeignCpu([], "run-2")
        time.sleep(1.0)
        mine, theirs = this_run.stop(), other_run.stop()
    finally:
        marked.kill()
        marked.wait(10)
    assert marked.pid not in [pid for _, pid, _ in mine.busiest], mine.describe()
    assert marked.pid in [pid for _, pid, _ in theirs.busiest], theirs.describe()


def test_a_quiet_run_is_not_flagged() -> None:
    quiet = Foreign(0.01, [])
    assert not quiet.busy
    assert quiet.describe() == "other processes on the machine during this run: 0.01 cores on average"
