"""Servers for the interop tests: certlife's witness and tiles server, torchwood's litewitness.

Each runs as a child process on 127.0.0.1 with a port the system chose (certlife) or a
free one found just before (litewitness, which does not report a port 0 choice); each
is stopped, by its pid, when the ``with`` block ends.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from certlife.contracts.cosignature import CosignatureVerifier


@dataclass(frozen=True)
class RunningWitness:
    """A witness reachable over HTTP: base URL, cosigner vkey, its log file."""

    url: str
    vkey: str
    log: Path

    def log_text(self) -> str:
        """What the witness printed so far."""
        return self.log.read_text(errors="replace")


@contextmanager
def child(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` with its output in ``log``; SIGTERM (then SIGKILL) it by pid afterwards."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_for(log: Path, pattern: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> re.Match[str]:
    """Block until ``pattern`` matches the log; fail with its tail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise AssertionError(f"{pattern!r} not seen in {log.name} (exit {proc.poll()}):\n{tail}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, f"nothing listens on port {port}"
            time.sleep(0.05)


def certctl(env: dict[str, str], *args: str) -> str:
    """Run ``certctl ARGS`` and return its stdout (assert success)."""
    done = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"certctl {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


@contextmanager
def certlife_witness(
    directory: Path, name: str, logs: dict[str, str], database_url: str, schema: str
) -> Iterator[tuple[RunningWitness, dict[str, str]]]:
    """``certctl witness init`` + ``add-log`` for each origin → vkey, then ``certctl serve witness``."""
    directory.mkdir(parents=True, exist_ok=True)
    passphrase = directory / "passphrase"
    passphrase.write_text(base64.b64encode(os.urandom(18)).decode() + "\n")
    passphrase.chmod(0o600)
    env = dict(os.environ)
    env.pop("CERTLIFE_KEY_PASSPHRASE", None)
    env.update(
        CERTLIFE_KEYS_DIR=str(directory / "keys"),
        CERTLIFE_KEY_PASSPHRASE_FILE=str(passphrase),
        CERTLIFE_DATABASE_URL=database_url,
        CERTLIFE_DB_SCHEMA=schema,
        PYTHONUNBUFFERED="1",
    )
    match = re.search(r"witness key:\s+(\S+)", certctl(env, "witness", "init", "--name", name))
    assert match, "certctl witness init printed no vkey"
    for origin, vkey in logs.items():
        certctl(env, "witness", "add-log", "--origin", origin, "--key", vkey)
    log = directory / "witness.log"
    argv = [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "witness", "--port", "0"]
    with child(argv, log, env) as proc:
        port = wait_for(log, r"witness listening on http://127\.0\.0\.1:(\d+)", proc)[1]
        yield RunningWitness(f"http://127.0.0.1:{port}", match[1], log), env


def _ssh_ed25519_public(pub_line: str) -> bytes:
    blob = base64.b64decode(pub_line.split()[1])
    assert blob[:4] == b"\x00\x00\x00\x0b" and blob[4:15] == b"ssh-ed25519", "not an ssh-ed25519 key"
    return blob[-32:]


@contextmanager
def litewitness(
    bins: dict[str, Path], directory: Path, name: str, logs: dict[str, str]
) -> Iterator[RunningWitness]:
    """torchwood's litewitness with its key in a dedicated ssh-agent; witnessctl add-log/add-key per log.

    The vkey is derived here from the SSH public key as certlife does for a policy
    (``contracts.cosignature``: name, key ID, base64(0x04 ‖ key)) and checked against the
    one litewitness logs at start.
    """
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "litewitness.db"
    key = directory / "witness_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    vkey = CosignatureVerifier(name, _ssh_ed25519_public(Path(f"{key}.pub").read_text())).vkey()
    for origin, log_vkey in logs.items():
        subprocess.run([str(bins["witnessctl"]), "add-log", "-db", str(db), "-origin", origin], check=True)
        subprocess.run(
            [str(bins["witnessctl"]), "add-key", "-db", str(db), "-origin", origin, "-key", log_vkey],
            check=True,
        )
    with ExitStack() as stack:
        # A socket path must stay short (sun_path): a fresh directory under /tmp.
        sockdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lw", dir="/tmp")))
        sock = sockdir / "agent.sock"
        agent = stack.enter_context(child(["ssh-agent", "-D", "-a", str(sock)], directory / "ssh-agent.log"))
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert agent.poll() is None and time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        subprocess.run(
            ["ssh-add", "-q", str(key)],
            env=dict(os.environ, SSH_AUTH_SOCK=str(sock)),
            check=True,
            capture_output=True,
        )
        port = _free_port()
        log = directory / "litewitness.log"
        argv = [
            str(bins["litewitness"]),
            f"-db={db}",
            f"-name={name}",
            f"-key={fingerprint}",
            f"-ssh-agent={sock}",
            f"-listen=127.0.0.1:{port}",
        ]
        proc = stack.enter_context(child(argv, log))
        logged = wait_for(log, r'msg="verifier key" vkey=(\S+)', proc)[1]
        assert logged == vkey, f"litewitness's vkey {logged} != derived {vkey}"
        wait_for(log, r"msg=listening", proc)
        yield RunningWitness(f"http://127.0.0.1:{port}", vkey, log)


@contextmanager
def tiles_server(tiles: Path, log: Path) -> Iterator[str]:
    """``certctl serve tiles TILES --port 0``; yields its base URL."""
    argv = [
        sys.executable,
        "-m",
        "certlife.services.cli.certctl",
        "serve",
        "tiles",
        str(tiles),
        "--port",
        "0",
    ]
    with child(argv, log, dict(os.environ, PYTHONUNBUFFERED="1")) as proc:
        port = wait_for(log, r"tiles: serving .* on http://127\.0\.0\.1:(\d+)/", proc)[1]
        yield f"http://127.0.0.1:{port}"
