"""Start and stop certlife's service processes (``certctl serve …``) as separate OS processes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


class ServiceProcess:
    """``certctl serve NAME`` in a child process, logging to a file."""

    def __init__(
        self, service: str, env: dict[str, str], log_dir: Path, tag: str = "", args: Sequence[str] = ()
    ) -> None:
        """Prepare (not start) the process; ``args`` follow ``certctl serve NAME``."""
        self.service = service
        self.env = env
        self.args = tuple(args)
        self.log_path = log_dir / f"{service}{tag}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running child's pid."""
        return None if self.proc is None else self.proc.pid

    def start(self) -> ServiceProcess:
        """Start the process (appending to its log file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "certlife.services.cli.certctl", "serve", self.service, *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C goes to the supervisor, which stops children in order
            )
        return self

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
