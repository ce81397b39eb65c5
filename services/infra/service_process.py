"""One certlife service process (``certctl serve NAME``) started, watched and stopped from Python.

:class:`ServiceProcess` is what the supervisor (:mod:`certlife.services.infra.supervisor`),
the main job and the tests start services with; importable from the supervisor module too.
"""

from __future__ import annotations

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
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        """The running child's pid."""
        return None if self.proc is None else self.proc.pid

    def start(self) -> ServiceProcess:
        """Start the process (appending to its log file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "certlife.services.cli.certctl", "serve", self.service, *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C goes to the supervisor, which stops children in order
                preexec_fn=_die_with_parent(self.parent_death_signal),
            )
        return self

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
        """SIGTERM and wait; SIGKILL after ``timeout``."""
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


def _die_with_parent(sig: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent thread dies."""
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
