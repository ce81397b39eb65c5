"""A private PostgreSQL primary + synchronous replica for one test module, started by the launcher.

``certctl stack up --postgres-only --pg-replica`` under a tmp ``CERTLIFE_HOME`` on two
free ports: the Debian clusters ``certlife-PORT`` and ``certlife-PORT-replica``, beside
(never touching) the shared stack on 5432. Afterwards both clusters are dropped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from certlife.services.infra import stack
from certlife.services.infra.stack import StackSettings, pgstate


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports nothing listens on now (never the shared stack's 5432/5433)."""
    sockets, ports = [], []
    while len(ports) < count:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sockets.append(sock)
        if port not in (5432, 5433) and port + 1 not in ports:
            ports.append(port)
    for sock in sockets:
        sock.close()
    return ports


def private_env(home: Path) -> dict[str, str]:
    """The environment that selects a private primary and replica under ``home``."""
    primary, replica = free_ports(2)
    return {
        **{k: v for k, v in os.environ.items() if k != "CERTLIFE_DATABASE_URL"},
        "CERTLIFE_HOME": str(home),
        "CERTLIFE_POSTGRES_PORT": str(primary),
        "CERTLIFE_POSTGRES_REPLICA_PORT": str(replica),
    }


def run_replicated(env: dict[str, str]) -> Iterator[float]:
    """Start the pair with the launcher; yield its start time (s); drop both clusters afterwards."""
    settings = StackSettings.from_env(env)
    assert settings.postgres_port != 5432, "never the shared stack's PostgreSQL"
    started = time.monotonic()
    try:
        stack.up(settings, pg_replica=True, postgres_only=True)
        yield time.monotonic() - started
    finally:
        drop(settings)


def drop(settings: StackSettings) -> None:
    """Stop and remove the private clusters (and the replica's passfile)."""
    version = next(iter(sorted(p.name for p in Path("/usr/lib/postgresql").iterdir())), "15")
    state = pgstate.load(settings.shared_state)
    version = state.version if state else version
    for name in (
        pgstate.primary_cluster(settings.postgres_port),
        pgstate.replica_cluster(settings.postgres_port),
    ):
        if name == pgstate.DEFAULT_CLUSTER:
            continue
        subprocess.run(["pg_dropcluster", "--stop", version, name], capture_output=True, check=False)
        Path(f"/var/lib/postgresql/{version}/{name}.pgpass").unlink(missing_ok=True)


def primary_pids(settings: StackSettings) -> list[int]:
    """The primary's postmaster and every process it started."""
    state = pgstate.load(settings.shared_state)
    assert state is not None
    data = Path(f"/var/lib/postgresql/{state.version}/{state.primary_cluster}")
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def kill_primary(settings: StackSettings) -> None:
    """SIGKILL the primary's postmaster and all its processes at once (a machine that died)."""
    for pid in primary_pids(settings):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
