"""Find a reachable PostgreSQL or install and start a Debian cluster for certlife."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from certlife.services.infra.stack import pgroles, pgstate
from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.procs import port_open
from certlife.services.infra.stack.settings import POSTGRES_DEFAULT_VERSION, StackSettings

CLUSTER = pgstate.DEFAULT_CLUSTER  # the cluster on port 5432; another port's: ``pgstate.primary_cluster``
_TUNING = """# written by certctl stack up
max_connections = 200
shared_buffers = 256MB
listen_addresses = '127.0.0.1'
"""


def can_login(settings: StackSettings) -> bool:
    """True when the project's role can open the project's database."""
    import asyncpg

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(settings.database_url, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def _run(cmd: list[str], what: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        cause = detail[-1] if detail else f"exit {result.returncode}"
        if "No space left" in (result.stderr + result.stdout):
            raise StackError(f"disk full while trying to {what}: free space and retry")
        raise StackError(f"could not {what}: {cause}")
    return result.stdout


def _versions() -> list[str]:
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    return sorted((Path(p).parts[4] for p in found), key=int)


def _ensure_binaries() -> str:
    versions = _versions()
    if versions:
        return versions[-1]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            "PostgreSQL is not installed and cannot be installed here (needs root and apt-get): "
            "install it, or point CERTLIFE_DATABASE_URL at a running server"
        )
    _run(["apt-get", "update", "-qq"], "update the apt package lists")
    _run(["apt-get", "install", "-y", "-qq", "postgresql"], "install PostgreSQL with apt-get")
    versions = _versions()
    return versions[-1] if versions else POSTGRES_DEFAULT_VERSION


def _as_postgres(port: int, sql: str) -> str:
    return _run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-p",
            str(port),
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
        "run SQL as the postgres superuser",
    )


def _ensure_role_and_db(settings: StackSettings) -> None:
    port, user, db = settings.postgres_port, settings.postgres_user, settings.postgres_db
    if not _as_postgres(port, f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'").strip():
        _as_postgres(port, f"CREATE ROLE {user} LOGIN CREATEDB PASSWORD '{settings.postgres_password}'")
    if not _as_postgres(port, f"SELECT 1 FROM pg_database WHERE datname = '{db}'").strip():
        _as_postgres(port, f"CREATE DATABASE {db} OWNER {user}")


def _local_cluster(settings: StackSettings) -> bool:
    """True when we are root and a PostgreSQL of this machine listens on the stack's port (its socket)."""
    socket = Path("/var/run/postgresql") / f".s.PGSQL.{settings.postgres_port}"
    return os.geteuid() == 0 and socket.exists() and shutil.which("runuser") is not None


def create_cluster(version: str, cluster: str, port: int) -> Path:
    """Create the Debian cluster ``version/cluster`` on ``port`` with certlife's tuning unless it
    exists; its configuration folder."""
    conf = Path(f"/etc/postgresql/{version}/{cluster}")
    if not (conf / "postgresql.conf").exists():
        _run(["pg_createcluster", version, cluster, "-p", str(port)], "create the PostgreSQL cluster")
        (conf / "conf.d").mkdir(exist_ok=True)
        (conf / "conf.d" / "certlife.conf").write_text(_TUNING)
    return conf


def start(settings: StackSettings) -> bool:
    """Make the project's database reachable; True when this call started a server.

    As root on the local cluster it also creates the service roles and their
    password files (``certlife.services.infra.stack.pgroles.ensure_roles``).
    """
    replica = pgstate.load(settings.shared_state)
    if replica is not None and replica.promoted and replica.primary_port == settings.postgres_port:
        return False  # fenced: the promoted replica is the primary now (``stack/pgreplica.py``)
    if can_login(settings):
        if _local_cluster(settings):
            pgroles.ensure_roles(settings)
        return False
    if port_open(settings.postgres_port):
        if os.geteuid() != 0:
            raise StackError(
                f"port {settings.postgres_port} is taken by a server where role "
                f"'{settings.postgres_user}' cannot log in: set CERTLIFE_DATABASE_URL"
            )
        _ensure_role_and_db(settings)
        pgroles.ensure_roles(settings)
        return False
    version = _ensure_binaries()
    if os.geteuid() != 0:
        raise StackError(
            "starting PostgreSQL needs root (pg_ctlcluster): run as root or set CERTLIFE_DATABASE_URL"
        )
    cluster = pgstate.primary_cluster(settings.postgres_port)
    create_cluster(version, cluster, settings.postgres_port)
    _run(["pg_ctlcluster", version, cluster, "start"], "start PostgreSQL")
    marker = settings.shared_state / "postgres.started"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{version} {cluster}\n")
    deadline = time.monotonic() + 30
    while not port_open(settings.postgres_port):
        if time.monotonic() > deadline:
            raise StackError(f"PostgreSQL did not listen on port {settings.postgres_port} within 30 s")
        time.sleep(0.2)
    _ensure_role_and_db(settings)
    pgroles.ensure_roles(settings)
    return True


def status(settings: StackSettings) -> str:
    """One line describing the database's state."""
    ours = (settings.shared_state / "postgres.started").exists()
    if can_login(settings):
        owner = "started by certctl" if ours else "external"
        return f"postgres: running ({owner}) at 127.0.0.1:{settings.postgres_port}"
    return "postgres: stopped"


def stop(settings: StackSettings) -> bool:
    """Stop the cluster this launcher started; True when one was stopped."""
    marker = settings.shared_state / "postgres.started"
    if not marker.exists():
        return False
    version, cluster = marker.read_text().split()
    subprocess.run(
        ["pg_ctlcluster", version, cluster, "stop", "-m", "fast"], capture_output=True, check=False
    )
    marker.unlink()
    return True
