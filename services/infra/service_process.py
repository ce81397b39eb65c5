"""One certlife service process (``certctl serve NAME``) started, watched and stopped from Python.

:class:`ServiceProcess` is what the supervisor (:mod:`certlife.services.infra.supervisor`),
the main job and the tests start services with; importable from the supervisor module too.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: ``prctl`` option asking the kernel to signal a process when its parent thread dies (Linux).
_PR_SET_PDEATHSIG = 1


class ServiceProcess:
    """``certctl serve NAME`` in a child process, logging to a file."""

    def __init__(
        self,
        service: str,
        env: dict[str, str],
        log_dir: Path,
        tag: str = "",
        args: Sequence[str] = (),
        *,
        parent_death_signal: int | None = None,
    ) -> None:
        """Prepare (not start) the process; ``args`` follow ``certctl serve NAME``.

        With ``parent_death_signal`` (Linux) the kernel sends the child that signal
        when the thread that started it dies, even by SIGKILL: no orphan outlives a
        supervisor. Start such a process from a thread that lives as long as it should.
        """
        self.service = service
        self.env = env
        self.args = tuple(args)
        self.name = f"{service}{tag}"
        self.log_path = log_dir / f"{self.name}.log"
        self.parent_death_signal = parent_death_signal
        self.proc: subprocess.Popen[bytes] | None = None
        self._spare: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        """The running child's pid."""
        return None if self.proc is None else self.proc.pid

    def start(self, *, restart: bool = False) -> ServiceProcess:
        """Start the process (appending to its log file): the warm spare if one waits, else a new one.

        A ``restart`` (as a spare always is) waits out an endpoint that does not answer instead
        of exiting: it ran before, so its configuration is not what is wrong.
        """
        spare, self._spare = self._spare, None
        self._log_offset = self._log_size()
        if spare is not None and spare.poll() is None:
            try:
                assert spare.stdin is not None
                spare.stdin.write(b"go\n")
                spare.stdin.close()
                self.proc = spare
                return self
            except OSError:  # it died meanwhile: start a new one below
                _reap(spare)
        self.proc = self._popen(("--restarted",) if restart else ())
        return self

    def start_spare(self) -> None:
        """Start a warm spare beside the running process: ``certctl serve NAME --warm-spare``, which
        imports the service's code and then waits for :meth:`start` to hand it the service (no
        connection is opened before that). The next :meth:`start` then costs no interpreter start-up."""
        if self._spare is None or self._spare.poll() is not None:
            self._spare = self._popen(("--warm-spare",), stdin=subprocess.PIPE)

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _popen(self, extra: Sequence[str], stdin: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "certlife.services.cli.certctl",
                    "serve",
                    self.service,
                    *extra,
                    *self.args,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=stdin,
                start_new_session=True,  # Ctrl-C goes to the supervisor, which stops children in order
                preexec_fn=die_with_parent(self.parent_death_signal),
            )

    @property
    def returncode(self) -> int | None:
        """The exit status once the child ended (``-N``: killed by signal N); None while it runs."""
        return None if self.proc is None else self.proc.poll()

    def pin_port(self, url: str) -> None:
        """Restarts listen on ``url``'s port (a server started with ``--port 0``), so its address stays."""
        args = list(self.args)
        args[args.index("--port") + 1] = url.rstrip("/").rsplit(":", 1)[1]
        self.args = tuple(args)

    def running(self) -> bool:
        """True while the child is alive."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash at an arbitrary instant."""
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; SIGKILL after ``timeout``. A waiting spare is stopped too."""
        spare, self._spare = self._spare, None
        if spare is not None:
            _reap(spare)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def log_text(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def last_line(self) -> str:
        """The last non-empty line the current (or last) run printed; empty if none."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                lines = log.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    def wait_for_log(self, needle: str, timeout: float = 30) -> None:
        """Block until ``needle`` appears in the log; raise with the log's tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.service}: {needle!r} not seen; log tail:\n{self.log_text()[-2000:]}")

    def listening_url(self, timeout: float = 30) -> str:
        """Wait for the ``http(s)://HOST:PORT`` a server announces in its log; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"(https?://[0-9a-zA-Z.:\[\]]+:\d+)", self.log_text())
            if found:
                return found[1]
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.service}: no listening address; log tail:\n{self.log_text()[-2000:]}")


def service_children(parent: int, *, spares: bool = False) -> dict[str, int]:
    """``{service: pid}`` of the ``certctl serve SERVICE`` processes that run as children of ``parent``
    (a supervisor), read from ``/proc`` (Linux). Warm spares that still wait (their standard input
    is the supervisor's pipe; a running service's is ``/dev/null``) are left out, or, with
    ``spares``, are the only ones listed."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            waiting = os.readlink(entry / "fd" / "0").startswith("pipe:")
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" or int(fields[1]) != parent or "serve" not in argv[:-1]:
            continue
        if waiting == spares:
            found[argv[argv.index("serve") + 1]] = int(entry.name)
    return found


def _reap(spare: subprocess.Popen[bytes]) -> None:
    """End a spare that never started its service (closing its stdin is its signal to exit)."""
    with contextlib.suppress(OSError):
        if spare.stdin is not None:
            spare.stdin.close()
    try:
        spare.wait(5)
    except subprocess.TimeoutExpired:
        spare.kill()
        spare.wait(5)


def die_with_parent(sig: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent thread dies.

    None (no such request) when ``sig`` is None or not on Linux. Tests and benchmarks start
    services with it, so that a killed test run or benchmark leaves no service running.
    """
    if sig is None or not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def set_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody would signal us
            os._exit(1)

    return set_signal
