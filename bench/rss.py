"""Peak resident memory of a process and all its descendants, sampled in a thread (Linux)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class RssSampler(threading.Thread):
    """Samples the summed VmRSS of this process and its descendants every 0.1 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mib = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        while not self._halt.wait(0.1):
            self.peak_mib = max(self.peak_mib, _tree_rss_mib(os.getpid()))

    def stop(self) -> float:
        """Stop sampling; return the peak in MiB."""
        self._halt.set()
        self.join()
        return self.peak_mib


def _tree_rss_mib(root: int) -> float:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in tree]
        tree.update(frontier)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024
