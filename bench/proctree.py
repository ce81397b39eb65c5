"""A process and its descendants, found through ``/proc/PID/task/TID/children`` (Linux).

Walking the tree from its root reads a few small files, not every process's
``stat`` on the machine, so sampling it often costs the measured process
little even on a machine running hundreds of processes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def descendants(root: int) -> set[int]:
    """Every live descendant of process ``root`` (children, their children, ...)."""
    found: set[int] = set()
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
    return found


def rss_mib(pids: set[int]) -> float:
    """Summed VmRSS of ``pids`` in MiB (processes gone meanwhile count nothing)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total / 1024


class TreeRssSampler(threading.Thread):
    """Samples the summed VmRSS of this process and its descendants every 0.1 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mib = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        me = os.getpid()
        while not self._halt.wait(0.1):
            self.peak_mib = max(self.peak_mib, rss_mib({me} | descendants(me)))

    def stop(self) -> float:
        """Stop sampling; return the peak in MiB."""
        self._halt.set()
        self.join()
        return self.peak_mib
