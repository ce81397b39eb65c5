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
