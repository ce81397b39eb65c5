"""``certctl serve all`` with the real services against the real broker and PostgreSQL.

The supervisor runs the command service, relay, projections and publisher as
children: each one SIGKILLed is started again within 5 s (the issue's bound) and
becomes ready again; SIGTERM stops every child and the supervisor exits 0; a
child that cannot start is reported in one line and not restarted in a loop; a
SIGKILLed supervisor takes its children with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certlife.services.infra.service_process import die_with_parent, service_children
from certlife.services.infra.stack import StackSettings, provision
from tests.integration.test_relay import certctl, stack_env
from tests.procs import ROOT

pytestmark = pytest.mark.integration

SERVICES = ("commands", "relay", "projections", "publisher")
READY = {
    "commands": "started successfully",
    "relay": "relay active",
    "projections": "started successfully",
    "publisher": "publisher active",
}


class ServeAll:
    """``certctl serve all`` in a child process; its children found through /proc."""

    def __init__(self, env: dict[str, str], logs: Path, *args: str) -> None:
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.stderr = logs / "supervisor.err"
        with open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "certlife.services.cli.certctl",
                    "serve",
                    "all",
                    "--log-dir",
                    str(logs),
                    *args,
                ],
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGKILL),  # a killed pytest takes it along
            )
        self.seen: set[int] = set()

    def text(self) -> str:
        return self.stderr.read_text(errors="replace")

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def children(self) -> dict[str, int]:
        """``{service: pid}`` of the supervisor's live children that run their service."""
        found = service_children(self.proc.pid)
        self.seen.update(found.values())
        return found

    def spares(self) -> dict[str, int]:
        """``{service: pid}`` of the warm spares that wait."""
        found = service_children(self.proc.pid, spares=True)
        self.seen.update(found.values())
        return found

    def wait_ready(self, name: str, count: int = 1, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while self.log(name).count(READY[name]) < count:
            assert time.monotonic() < deadline, f"{name} not ready:\n{self.log(name)[-2000:]}\n{self.text()}"
            assert self.proc.poll() is None, self.text()
            time.sleep(0.1)

    def kill_everything(self) -> None:
        for pid in [*self.children().values(), *self.spares().values(), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)


def _processes() -> Iterator[tuple[int, int, list[str]]]:
    """``(pid, ppid, argv)`` of every live (not zombie) process."""
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z":
            yield int(entry.name), int(fields[1]), argv


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid, _, _ in _processes() if pid in pids}


@pytest.fixture
def env(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> dict[str, str]:
    """One deployment of its own (topics, schema, keys, tiles), provisioned, with a record key."""
    prefix = unique_name("sup") + "."
    env = stack_env(
        kafka_bootstrap,
        database_url,
        pg_schema,
        prefix,
        tmp_path / "keys",
        CERTLIFE_TILES_DIR=str(tmp_path / "t"),
    )
    asyncio.run(asyncio.to_thread(provision, StackSettings.from_env(), prefix))
    return env


def test_killed_children_restart_within_5s_and_sigterm_stops_all(env: dict[str, str], tmp_path: Path) -> None:
    assert certctl(env, "keys", "generate").returncode == 0
    sup = ServeAll(env, tmp_path / "logs", "--only", ",".join(SERVICES))
    try:
        for name in SERVICES:
            sup.wait_ready(name)
        first = sup.children()
        assert set(first) == set(SERVICES)
        deadline = time.monotonic() + 30  # each service gets a warm spare a few seconds after it started
        while set(sup.spares()) != set(SERVICES):
            assert time.monotonic() < deadline, (sup.spares(), sup.text())
            time.sleep(0.1)
        took, ready = {}, {}
        for name in SERVICES:
            old, spare = sup.children()[name], sup.spares()[name]
            killed = time.monotonic()
            os.kill(old, signal.SIGKILL)
            while sup.children().get(name, old) == old:
                assert time.monotonic() - killed < 10, sup.text()
                time.sleep(0.02)
            took[name] = time.monotonic() - killed
            assert sup.children()[name] == spare  # the restart was the warm spare, not a new interpreter
            sup.wait_ready(name, count=2)
            ready[name] = time.monotonic() - killed
        print("restarted after SIGKILL within (s):", {k: round(v, 2) for k, v in took.items()})
        print("ready again after SIGKILL within (s):", {k: round(v, 2) for k, v in ready.items()})
        assert all(seconds < 5 for seconds in took.values()), took
        deadline = time.monotonic() + 30  # and a new spare after each restart
        while set(sup.spares()) != set(SERVICES) or set(sup.spares().values()) & set(first.values()):
            assert time.monotonic() < deadline, (sup.spares(), sup.text())
            time.sleep(0.1)
        children = sup.seen.copy()
        sup.proc.send_signal(signal.SIGTERM)
        assert sup.proc.wait(120) == 0, sup.text()
    finally:
        sup.kill_everything()
    assert _alive(children) == set(), sup.text()
    text = sup.text()
    for name in SERVICES:
        assert f"{name} exited (killed by SIGKILL) after" in text and "restart 1 in 0.2 s" in text
        assert text.count(f"{name} exited") == 1  # one line per restart
    stopped = [line.split("stopped ")[1].split()[0] for line in text.splitlines() if " stopped " in line]
    assert stopped == list(reversed(SERVICES))
    assert "Traceback" not in text


def test_a_child_that_cannot_start_is_reported_once_and_does_not_spin(
    env: dict[str, str], tmp_path: Path
) -> None:
    # The relay cannot read its key passphrase: a configuration error the relay finds only at start.
    env = {k: v for k, v in env.items() if k != "CERTLIFE_KEY_PASSPHRASE"}
    env["CERTLIFE_KEY_PASSPHRASE_FILE"] = str(tmp_path / "missing-passphrase")
    sup = ServeAll(env, tmp_path / "logs", "--only", "relay,projections")
    try:
        sup.wait_ready("projections")
        deadline = time.monotonic() + 90
        while "relay cannot start" not in sup.text():
            assert time.monotonic() < deadline, sup.text()
            time.sleep(0.2)
        attempts = sup.log("relay").count("cannot read the passphrase file")
        assert attempts == 5, sup.log("relay")
        time.sleep(12)  # no further attempt within the crash-loop delay
        assert sup.log("relay").count("cannot read the passphrase file") == attempts
        text = sup.text()
        assert text.count("relay cannot start") == 1
        assert "cannot read the passphrase file" in text.split("relay cannot start")[1].splitlines()[0]
        assert text.count("relay exited (exit status 1)") == 4  # the restarts before the verdict
        assert "projections exited" not in text
        # A SIGKILLed supervisor takes its children with it (no orphan keeps consuming).
        children = set(sup.children().values()) | set(sup.spares().values())
        assert children
        sup.proc.kill()
        sup.proc.wait(10)
        deadline = time.monotonic() + 5
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(children) == set()
    finally:
        sup.kill_everything()
