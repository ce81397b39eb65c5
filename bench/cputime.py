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

#: Clock ticks per second, the unit of ``/proc`` CPU times.
TICKS = os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the process name (state first), or None once it ended."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree_cpu_seconds(root: int | None = None, reaped: bool = False) -> float:
    """User + system CPU seconds of ``root`` (default: this process), its descendants and their reaped children.

    ``root``'s own reaped children are counted only with ``reaped`` (a server
    whose short-lived children it reaps itself: PostgreSQL's backends); without
    it they are not (a benchmark's earlier, separate runs). Its live
    descendants' reaped children always are.
    """
    root = os.getpid() if root is None else root
    ticks = 0
    own = stat_fields(root)
    if own is not None:
        ticks += sum(
            int(value) for value in own[11 : 15 if reaped else 13]
        )  # utime, stime (, cutime, cstime)
    for pid in descendants(root):
        fields = stat_fields(pid)
        if fields is not None:  # utime, stime, cutime, cstime (fields 14-17)
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / TICKS


#: Holders that are servers: their reaped children (PostgreSQL's finished backends) are their work.
_SERVERS = ("kafka", "postgres")


def stack_holders(services: dict[str, int], env: dict[str, str] | None = None) -> dict[str, int]:
    """``services`` (name -> pid) plus the broker and PostgreSQL server of the stack in use, when found
    (the local stack that ``env``, default this process's environment, selects: its broker's pid
    file, its cluster's postmaster)."""
    from certlife.services.infra.stack import pgstate
    from certlife.services.infra.stack.procs import read_pid
    from certlife.services.infra.stack.settings import StackSettings

    settings = StackSettings.from_env(env)
    holders = dict(services)
    broker = read_pid(settings.state / "kafka" / "kafka.pid")
    if broker is not None:
        holders["kafka"] = broker
    cluster = pgstate.primary_cluster(settings.postgres_port)
    found = subprocess.run(
        ["pgrep", "-o", "-f", f"bin/postgres -D [^ ]*/{cluster}( |$)"], capture_output=True, text=True
    ).stdout.split()
    if found:
        holders["postgres"] = int(found[0])
    return holders


def cpu_snapshot(holders: dict[str, int], own: str | None = None) -> dict[str, float]:
    """CPU seconds so far of each holder with its descendants (workers, database backends), and,
    under the name ``own``, of this process alone (whose children the holders may be)."""
    snapshot = {name: tree_cpu_seconds(pid, reaped=name in _SERVERS) for name, pid in holders.items()}
    if own is not None:
        snapshot[own] = time.process_time()
    return snapshot


def cpu_us_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, int]:
    """CPU microseconds per item of each holder between two snapshots."""
    return {name: round(1e6 * (after[name] - before[name]) / max(items, 1)) for name in after}
