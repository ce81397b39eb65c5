"""The main job's split-view protection: two partner bodies' witnesses, the publisher and the tiles.

Each partner body runs its own ``certctl serve witness`` (its own key, passphrase and
database schema) that witnesses this run's log. The operator's publisher asks both
(``CERTLIFE_WITNESSES_FILE``) after every checkpoint and writes the log as C2SP
tlog-tiles, which ``certctl serve tiles`` serves over HTTP; both run under the
operator's supervisor (the witnesses, the partners' own processes, do not). The partner lab then
verifies with a 2-of-2 witness policy (``partner-policy.txt``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from certlife.contracts.policy import WitnessPolicy
from certlife.services.demo.setup import DemoRun, Started
from certlife.services.infra.supervisor import ServiceProcess, Supervisor

#: The two partner bodies that witness the log (names as they appear in cosignatures).
WITNESSES = ("witness.partner-a.example", "witness.partner-b.example")


@dataclass
class Witnessing:
    """What the run started for witnessing and tiles, and the files a partner uses."""

    vkeys: dict[str, str]
    policy: Path  # the partner lab's 2-of-2 policy
    tiles_dir: Path
    tiles_url: str = ""
    procs: list[Started] = field(default_factory=list)

    def wait_cosigned(self, size: int, timeout: float) -> list[str]:
        """Block until the tiles' checkpoint has ``size`` and both cosignatures; return who cosigned."""
        policy = WitnessPolicy.parse(self.policy.read_text())
        deadline = time.monotonic() + timeout
        cosigned: tuple[str, ...] = ()
        while time.monotonic() < deadline:
            try:
                note = (self.tiles_dir / "checkpoint").read_text()
            except OSError:
                note = ""
            if note and int(note.split("\n", 2)[1]) >= size:
                result = policy.evaluate(note)
                cosigned = result.cosigned_by
                if result.satisfied:
                    return list(cosigned)
            time.sleep(0.2)
        raise RuntimeError(
            f"no checkpoint of size {size} cosigned by both witnesses within {timeout:.0f}s "
            f"(last cosigned by: {', '.join(cosigned) or 'none'})"
        )


def _certctl(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"certctl {' '.join(args[:2])}: {result.stderr.strip()[-500:]}")
    return result.stdout


def _witness_env(run: DemoRun, label: str) -> dict[str, str]:
    """A partner body's own key folder, passphrase and schema (same PostgreSQL server here)."""
    home = run.directory / f"witness-{label}"
    home.mkdir(parents=True, exist_ok=True)
    secret = home / "passphrase"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(24))
    env = {k: v for k, v in run.env.items() if not k.startswith("CERTLIFE_KEY_PASSPHRASE")}
    env.update(
        {
            "CERTLIFE_KEYS_DIR": str(home / "keys"),
            "CERTLIFE_KEY_PASSPHRASE_FILE": str(secret),
            "CERTLIFE_DB_SCHEMA": f"witness_{label}_{run.run_id}",
        }
    )
    return env


def start(run: DemoRun, note_vkey: str, procs: list[Started]) -> Witnessing:
    """Start both witnesses (into ``procs``); write the operator's witness file and the partner's policy."""
    origin = run.settings.origin
    vkeys: dict[str, str] = {}
    urls: dict[str, str] = {}
    side = Witnessing({}, run.directory / "partner-policy.txt", run.directory / "tiles", procs=procs)
    for label, name in zip("ab", WITNESSES, strict=True):
        env = _witness_env(run, label)
        _certctl(env, "witness", "init", "--name", name)
        vkeys[name] = _certctl(env, "witness", "vkey").strip()
        _certctl(env, "witness", "add-log", "--origin", origin, "--key", note_vkey)
        proc = ServiceProcess("witness", env, run.directory / "logs", tag=f"-{label}", args=["--port", "0"])
        side.procs.append(proc.start())
        urls[name] = proc.listening_url(timeout=60)
    side.vkeys = vkeys
    operator = run.directory / "witnesses.txt"
    operator.write_text(
        "# the witnesses the log's publisher asks after every checkpoint\n"
        + "".join(
            f"witness {label} {vkeys[n]} {urls[n]}\n"
            for label, n in zip(("partner-a", "partner-b"), WITNESSES, strict=True)
        )
        + "quorum none\n"
    )
    side.policy.write_text(
        "# the partner lab's policy: both partner bodies must have cosigned\n"
        + "".join(
            f"witness {label} {vkeys[n]}\n"
            for label, n in zip(("partner-a", "partner-b"), WITNESSES, strict=True)
        )
        + "group both all partner-a partner-b\nquorum both\n"
    )
    run.env.update({"CERTLIFE_WITNESSES_FILE": str(operator), "CERTLIFE_TILES_DIR": str(side.tiles_dir)})
    return side


def publishing(run: DemoRun) -> ServiceProcess:
    """The publisher, as the relay's principal, for the supervisor to start."""
    return ServiceProcess("publisher", run.service_env("relay"), run.directory / "logs")


def serve_tiles(run: DemoRun, side: Witnessing, supervisor: Supervisor) -> None:
    """The tiles server under ``supervisor`` once the publisher made the directory; its URL (kept
    across restarts)."""
    tiles = ServiceProcess(
        "tiles", run.env, run.directory / "logs", args=[str(side.tiles_dir), "--port", "0"]
    )
    url = supervisor.add(tiles).listening_url(timeout=60)
    tiles.pin_port(url)
    side.tiles_url = url + "/"
