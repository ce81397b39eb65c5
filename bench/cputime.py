"""CPU seconds used by this process and all its descendants (Linux ``/proc``).

On a shared machine the wall-clock rate of a run depends on what else runs;
the CPU seconds it takes per record much less so. ``tree_cpu_seconds`` sums,
over this process and every live descendant, user + system time plus the
time of the children each one has reaped (``cutime``/``cstime``: a process
pool's finished workers, reaped by their forkserver). Take it before and
after a measured section; the difference is the section's CPU.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench.proctree import descendants

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree_cpu_seconds(root: int | None = None) -> float:
    """User + system CPU seconds of ``root`` (default: this process), its descendants and their reaped children.

    ``root``'s own reaped children are not counted (a benchmark's earlier,
    separate runs); its live descendants' reaped children are.
    """
    root = os.getpid() if root is None else root
    ticks = 0
    own = _stat_fields(root)
    if own is not None:
        ticks += int(own[11]) + int(own[12])  # utime, stime (fields 14, 15)
    for pid in descendants(root):
        fields = _stat_fields(pid)
        if fields is not None:  # utime, stime, cutime, cstime (fields 14-17)
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / _TICKS


def stack_holders(services: dict[str, int]) -> dict[str, int]:
    """``services`` (name -> pid) plus the local broker and PostgreSQL server, when found."""
    holders = dict(services)
    for name, pattern in (("kafka", "kafka.Kafka"), ("postgres", "bin/postgres -D")):
        found = subprocess.run(["pgrep", "-o", "-f", pattern], capture_output=True, text=True).stdout.split()
        if found:
            holders[name] = int(found[0])
    return holders


def cpu_snapshot(holders: dict[str, int], own: str | None = None) -> dict[str, float]:
    """CPU seconds so far of each holder with its descendants (workers, database backends), and,
    under the name ``own``, of this process alone (whose children the holders may be)."""
    snapshot = {name: tree_cpu_seconds(pid) for name, pid in holders.items()}
    if own is not None:
        snapshot[own] = time.process_time()
    return snapshot


def cpu_us_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, int]:
    """CPU microseconds per item of each holder between two snapshots."""
    return {name: round(1e6 * (after[name] - before[name]) / max(items, 1)) for name in after}
