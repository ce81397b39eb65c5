"""CPU that other processes took from a benchmark: what on the machine ran beside it (Linux ``/proc``).

Every figure of ``./dev bench`` assumes the machine's two cores are the
benchmark's. A process left running elsewhere (a service of a stopped test
run, a second stack's broker, a build) lowers them without a trace, and a
ratio can then miss its target for a reason that is not certlife's.
:class:`ForeignCpu` takes the CPU seconds of every process on the machine
before and after a benchmark; everything that is not the benchmark's is
foreign. The benchmark's processes are the runner's descendants and every
process that inherited the run's mark (:data:`MARK` in its environment: the
stack's broker and database server, and processes whose parent exited, such
as a finished run's process-pool server, which Linux hands to process 1).
Process 1 reaps such orphans, so only its own CPU counts, not its reaped
children's. ``bench/__main__.py`` prints each benchmark's foreign load under
its output, and a warning beside the targets when one was busy.

Only process names (``comm``) are shown: a command line may carry a secret.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.cputime import TICKS, stat_fields
from bench.proctree import descendants

#: A process taking less than this share of one core is not named.
SHOWN_CORES = 0.02
#: Foreign load above this (cores, averaged over a run) makes the run's figures suspect.
WARN_CORES = 0.10
#: The environment variable that marks a benchmark run's processes (its value: the run's token).
MARK = "BENCH_RUN"


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    """``pid -> (name, utime + stime + cutime + cstime)`` of every user process on the machine
    (kernel threads left out: their work, such as network interrupts, is mostly the benchmark's)."""
    found: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        name, _, rest = text.partition(" (")[2].rpartition(")")
        fields = rest.split()
        if entry.name == "2" or fields[1] == "2":  # kthreadd and its kernel threads
            continue
        reaped = entry.name != "1"  # process 1 reaps every orphan, the benchmark's too
        found[int(entry.name)] = (name, sum(int(v) for v in fields[11 : 15 if reaped else 13]))
    return found


def _marked(pid: int, mark: bytes) -> bool | None:
    """True when process ``pid``'s environment holds ``mark`` (``NAME=value``), False when it does
    not, None when no one can tell any more: the process ended (a zombie has no environment)."""
    try:
        if mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            return True
    except OSError:
        return None
    fields = stat_fields(pid)
    return None if fields is None or fields[0] in ("Z", "X") else False


@dataclass
class Foreign:
    """What ran beside a benchmark: average cores taken by processes outside it, the busiest named."""

    cores: float
    busiest: list[tuple[str, int, float]]  # (name, pid, cores)

    @property
    def busy(self) -> bool:
        """True when others took enough CPU to make the figures suspect."""
        return self.cores > WARN_CORES

    def describe(self) -> str:
        """One line for the report."""
        named = ", ".join(f"{name} (pid {pid}) {cores:.2f}" for name, pid, cores in self.busiest)
        head = f"other processes on the machine during this run: {self.cores:.2f} cores on average"
        return head + (f" ({named})" if named else "") + (" - figures suspect" if self.busy else "")


class ForeignCpu:
    """Measures the CPU of processes that are not the benchmark's from creation to :meth:`stop`."""

    def __init__(self, roots: Iterable[int], token: str | None = None) -> None:
        """Start now. ``roots`` are the benchmark's own process trees (the runner, the stack's servers);
        with ``token``, every process whose environment has :data:`MARK` set to it is the benchmark's too."""
        self._roots = tuple(roots)
        self._mark = None if token is None else f"{MARK}={token}".encode()
        self._start = time.monotonic()
        self._before = _cpu_ticks()

    def _own(self, pids: Iterable[int]) -> set[int]:
        own = set(self._roots)
        for root in self._roots:
            own |= descendants(root)
        if self._mark is not None:  # one that ended meanwhile is not counted against anyone
            mark = self._mark
            own |= {pid for pid in pids if pid not in own and _marked(pid, mark) is not False}
        return own

    def stop(self) -> Foreign:
        """The foreign load since the start (processes of the benchmark's trees left out)."""
        after = _cpu_ticks()
        seconds = max(time.monotonic() - self._start, 1e-9)
        own = self._own(after) | {os.getpid()}
        used: list[tuple[str, int, float]] = []
        for pid, (name, ticks) in after.items():
            if pid in own:
                continue
            before = self._before.get(pid)
            start = before[1] if before is not None and before[0] == name else 0
            cores = (ticks - start) / TICKS / seconds
            if cores > 0:
                used.append((name, pid, cores))
        used.sort(key=lambda item: -item[2])
        total = sum(cores for _, _, cores in used)
        return Foreign(total, [u for u in used[:5] if u[2] >= SHOWN_CORES])
