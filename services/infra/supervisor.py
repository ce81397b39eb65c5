"""One supervisor for a single host: certlife's services as child processes, restarted when they die.

:class:`Supervisor` runs ``certctl serve all`` and the main job's services. Its policy:

- Children start in the order given and stop in reverse order, each with SIGTERM and,
  after ``stop_timeout`` seconds, SIGKILL. Each child runs in its own session, so Ctrl-C
  reaches only the supervisor, and on Linux dies with the supervisor's thread even when
  the supervisor itself is SIGKILLed: no orphan is left behind.
- A child that exits while it should run is restarted after a backoff: ``first_delay``,
  doubled after each quick exit up to ``max_delay``. An exit after ``stable_after``
  seconds of running starts over from ``first_delay``. One line per restart: which child,
  how it ended (exit status or signal), after how long, the restart count and the delay.
- A crash loop, ``crash_loop_after`` exits in a row each within ``stable_after`` seconds of
  starting (a configuration error, an endpoint that cannot be reached), is reported once,
  with the last line the child printed. The child is then retried every
  ``crash_loop_delay`` seconds without a line per attempt: a service is back at most
  15 s after an outage ends, a configuration error costs one start per 15 s. One line
  when it runs again.
- With ``spares``, each child has a warm spare (:mod:`certlife.services.cli.spare`): a
  process that has imported the service's code and waits. A restart hands the service
  to it, so the service is back without an interpreter start-up; a new spare is started
  ``spare_after`` seconds later, once the restarted service has had the CPU to itself.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from certlife.projections.audit import AUDIT
from certlife.services.infra.service_process import ServiceProcess

__all__ = ["RestartPolicy", "ServiceProcess", "Supervisor", "describe_exit"]

log = logging.getLogger("certlife.supervisor")

#: How often the supervisor looks at its children (seconds).
TICK = 0.1


@dataclass(frozen=True)
class RestartPolicy:
    """When the supervisor restarts a child, and how long it waits for one to stop (seconds)."""

    first_delay: float = 0.2
    max_delay: float = 15.0
    stable_after: float = 10.0
    crash_loop_after: int = 5
    crash_loop_delay: float = 15.0
    stop_timeout: float = 15.0
    spare_after: float = 5.0


@dataclass
class _Child:
    proc: ServiceProcess
    delay: float
    started_at: float = 0.0
    restarts: int = 0
    quick_exits: int = 0
    due: float | None = None  # when to start it again; None while it runs
    spare_due: float | None = None  # when to start its next warm spare
    crash_loop: bool = False
    history: list[int] = field(default_factory=list)  # pids it ran as


def describe_exit(status: int) -> str:
    """``exit status N`` or ``killed by SIGNAME`` for a ``Popen.returncode``."""
    if status >= 0:
        return f"exit status {status}"
    try:
        return f"killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"killed by signal {-status}"


class Supervisor:
    """Runs service processes, restarts those that die, stops them all on request."""

    def __init__(
        self, procs: Sequence[ServiceProcess], policy: RestartPolicy | None = None, *, spares: bool = False
    ) -> None:
        """Supervise ``procs`` (not started yet; distinct names) under ``policy``; with ``spares``,
        keep a warm spare of each for its restarts."""
        names = [proc.name for proc in procs]
        if len(set(names)) != len(names):
            raise ValueError(f"two children with the same name: {names}")
        self.policy = policy or RestartPolicy()
        self.spares = spares
        for proc in procs:  # started from the supervisor's thread: they die with it
            if proc.parent_death_signal is None:
                proc.parent_death_signal = signal.SIGKILL
        self._children = [_Child(proc, self.policy.first_delay) for proc in procs]
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._running = False  # every child was started once
        self._added: queue.SimpleQueue[tuple[ServiceProcess, threading.Event]] = queue.SimpleQueue()

    @property
    def procs(self) -> dict[str, ServiceProcess]:
        """The children by name (``service`` plus tag), in start order."""
        return {child.proc.name: child.proc for child in self._children}

    def restarts(self, name: str) -> int:
        """How often child ``name`` was restarted so far."""
        return next(child.restarts for child in self._children if child.proc.name == name)

    def pids(self, name: str) -> list[int]:
        """Every pid child ``name`` ran as, oldest first."""
        return list(next(child.history for child in self._children if child.proc.name == name))

    def add(self, proc: ServiceProcess) -> ServiceProcess:
        """Start ``proc`` as one more child of the running supervisor; return once it was started."""
        if proc.name in self.procs:
            raise ValueError(f"two children with the same name: {proc.name}")
        if proc.parent_death_signal is None:
            proc.parent_death_signal = signal.SIGKILL
        started = threading.Event()
        self._added.put((proc, started))  # started by the supervisor's thread: it dies with that thread
        while not started.wait(TICK):
            if self._stop.is_set() or (self._thread is not None and not self._thread.is_alive()):
                raise RuntimeError(f"the supervisor stopped before it started {proc.name}")
        return proc

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop every child and return (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> None:
        """Start every child and keep them running until :meth:`request_stop`; then stop them all.

        The children are stopped on the way out whatever ends the loop, an exception included.
        """
        try:
            for child in self._children:
                if self._stop.is_set():
                    break
                self._launch(child, time.monotonic())
            self._running = True
            self._started.set()
            while not self._stop.wait(TICK):
                self._take_added()
                now = time.monotonic()
                for child in self._children:
                    self._watch(child, now)
        finally:
            self._stop_children()
            self._started.set()

    def start(self) -> Supervisor:
        """Run in a background thread (which starts every child); return once all were started."""
        self._thread = threading.Thread(target=self._run_in_thread, name="supervisor", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self, timeout: float | None = None) -> int:
        """Stop every child (reverse order) and the background thread; 0 (the supervisor's status)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return 0

    def _run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # handed to start()'s caller, or logged once running
            self._failure = exc
            if self._running:
                log.exception("supervisor stopped")

    def _take_added(self) -> None:
        while not self._added.empty():
            proc, started = self._added.get()
            child = _Child(proc, self.policy.first_delay)
            self._children.append(child)
            self._launch(child, time.monotonic())
            started.set()

    def _launch(self, child: _Child, now: float) -> None:
        child.proc.start(restart=child.restarts > 0)
        child.started_at, child.due = now, None
        child.spare_due = now + self.policy.spare_after if self.spares else None
        assert child.proc.pid is not None
        child.history.append(child.proc.pid)
        if child.restarts == 0:
            log.info("started %s (pid %d), log %s", child.proc.name, child.proc.pid, child.proc.log_path)

    def _watch(self, child: _Child, now: float) -> None:
        policy, name = self.policy, child.proc.name
        if child.due is not None:
            if now >= child.due:
                self._launch(child, now)
            return
        if child.spare_due is not None and now >= child.spare_due:
            child.spare_due = None
            child.proc.start_spare()
        status = child.proc.returncode
        up = now - child.started_at
        if status is None:
            if child.crash_loop and up >= policy.stable_after:
                child.crash_loop, child.quick_exits = False, 0
                child.delay = policy.first_delay
                log.warning(
                    "%s runs again (pid %s, restart %d)", name, child.proc.pid, child.restarts, extra=AUDIT
                )
            return
        if up >= policy.stable_after:
            child.quick_exits, child.delay = 0, policy.first_delay
        else:
            child.quick_exits += 1
        child.restarts += 1
        how = describe_exit(status)
        if child.crash_loop:
            wait = policy.crash_loop_delay
            log.debug("%s exited again (%s); retry in %.0f s", name, how, wait)
        elif child.quick_exits >= policy.crash_loop_after:
            child.crash_loop, wait = True, policy.crash_loop_delay
            log.error(
                "%s cannot start: it ended %d times in a row within %.0f s of starting (last: %s, %r); "
                "retrying quietly every %.0f s",
                name,
                child.quick_exits,
                policy.stable_after,
                how,
                child.proc.last_line()[-300:],
                wait,
                extra=AUDIT,
            )
        else:
            wait = child.delay
            child.delay = min(child.delay * 2, policy.max_delay)
            log.warning(  # one line per restart, never merged (the backoff already keeps them few)
                "%s exited (%s) after %.1f s; restart %d in %.1f s",
                name,
                how,
                up,
                child.restarts,
                wait,
                extra=AUDIT,
            )
        child.due = now + wait

    def _stop_children(self) -> None:
        for child in reversed(self._children):
            if child.proc.running():
                status = child.proc.stop(self.policy.stop_timeout)
                log.info("stopped %s (%s)", child.proc.name, describe_exit(status or 0))
