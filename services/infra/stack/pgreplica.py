"""A streaming replica of the local stack's PostgreSQL, with synchronous commit, and its promotion.

``certctl stack up --pg-replica`` creates it with Debian's tools, beside the
primary: a cluster ``<primary>-replica`` (``pgstate.replica_cluster``) on
``StackSettings.replica_port``, filled by ``pg_basebackup`` from the primary as
the role ``certlife_replication`` (REPLICATION LOGIN; its password is generated
once into the stack's secrets folder and reaches the replica in a 0600
``passfile`` owned by ``postgres``, never on a command line). Once it streams,
the primary gets ``synchronous_standby_names = 'certlife_replica'`` and
``synchronous_commit = remote_apply``: a COMMIT returns only when the replica
has applied it, so nothing a client saw acknowledged is lost with the primary
(and while the replica is down, commits wait for it).

:func:`promote` stops the primary if it still answers, fences it (its
``start.conf`` says ``disabled``; ``stack up`` leaves it stopped) and promotes
the replica, which then has no synchronous standby. Clients using the stack's
URL (both hosts, ``target_session_attrs=read-write``) reach it on their next
connection.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from certlife.services.infra.stack import pgroles, pgstate, postgres, secrets
from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.pgstate import REPLICATION_ROLE, STANDBY_NAME, ReplicaState
from certlife.services.infra.stack.procs import port_open
from certlife.services.infra.stack.settings import StackSettings

#: What the primary gets once the replica streams (``conf.d``: not copied into the replica).
SYNC_CONF = f"""# written by certctl stack up --pg-replica: a COMMIT waits until the replica applied it
synchronous_standby_names = '{STANDBY_NAME}'
synchronous_commit = remote_apply
"""
#: Seconds to wait for the replica to stream, to become synchronous, to be promoted.
WAIT = 60.0


def _sql(port: int, sql: str, *, hide: tuple[str, ...] = ()) -> str:
    return pgroles.as_postgres(port, sql, hide=hide).strip()


def _wait(what: str, check: Callable[[], bool], failure: str = "") -> None:
    """Poll ``check`` for :data:`WAIT` seconds; then a StackError (``failure``, else one naming ``what``)."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise StackError(
                failure or f"the PostgreSQL replica {what} within {WAIT:.0f} s: see /var/log/postgresql/"
            )
        time.sleep(0.2)


def _replication_state(primary_port: int) -> str:
    """``state sync_state`` of the replica as the primary sees it ('' when it is not connected)."""
    query = f"SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}'"
    try:
        return _sql(primary_port, query)
    except StackError:
        return ""


def _in_recovery(port: int) -> bool | None:
    """True on a standby, False on a primary, None when the server does not answer."""
    try:
        return _sql(port, "SELECT pg_is_in_recovery()") == "t"
    except StackError:
        return None


def _owned_by_postgres(path: Path, mode: int) -> None:
    shutil.chown(path, "postgres", "postgres")
    os.chmod(path, mode)


def start(settings: StackSettings) -> ReplicaState:
    """Create the replica unless it exists, start it, and make the primary wait for it; its state."""
    state = pgstate.load(settings.shared_state)
    if state is not None and state.primary_port != settings.postgres_port:
        raise StackError(
            f"this stack's replica follows port {state.primary_port}, not {settings.postgres_port}: "
            "set CERTLIFE_POSTGRES_PORT to it"
        )
    if state is not None and state.promoted:  # the promoted replica is the primary: just run it
        if not port_open(state.port):
            postgres._run(
                ["pg_ctlcluster", state.version, state.cluster, "start"], "start the promoted replica"
            )
        return state
    if os.geteuid() != 0 or not postgres._local_cluster(settings):
        raise StackError(
            f"a replica needs the stack's own PostgreSQL cluster on port {settings.postgres_port} "
            "and root (Debian's pg_basebackup, pg_ctlcluster): run as root after certctl stack up"
        )
    version, _, primary = _sql(settings.postgres_port, "SHOW cluster_name").partition("/")
    if not version.isdigit() or not primary:  # Debian names its clusters VERSION/NAME
        raise StackError(
            f"the PostgreSQL on port {settings.postgres_port} is not a Debian cluster (pg_createcluster): "
            "the launcher makes replicas of its own clusters only"
        )
    if state is None:
        state = _create(settings, version, primary)
    elif not port_open(state.port):
        postgres._run(
            ["pg_ctlcluster", state.version, state.cluster, "start"], "start the PostgreSQL replica"
        )
    port = state.primary_port
    _wait("did not stream", lambda: _replication_state(port).startswith("streaming"))
    conf = Path(f"/etc/postgresql/{state.version}/{state.primary_cluster}/conf.d/certlife-replica.conf")
    if not conf.exists() or conf.read_text() != SYNC_CONF:
        conf.write_text(SYNC_CONF)
        _sql(port, "SELECT pg_reload_conf()")
    _wait("did not become synchronous", lambda: _replication_state(port) == "streaming sync")
    pgstate.save(settings.shared_state, state)
    return state


def _create(settings: StackSettings, version: str, primary: str) -> ReplicaState:
    """The replica cluster, filled by pg_basebackup and started (not yet synchronous)."""
    name, port = pgstate.replica_cluster(settings.postgres_port), settings.replica_port
    if port_open(port):
        raise StackError(f"port {port} is taken: set CERTLIFE_POSTGRES_REPLICA_PORT to a free port")
    password = secrets.ensure_secret(settings.shared_state, "postgres", REPLICATION_ROLE)
    role = pgroles.quote_ident(REPLICATION_ROLE)
    _sql(
        settings.postgres_port,
        "SET password_encryption = 'scram-sha-256';\n"
        "DO $certlife$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
        f"{pgroles.quote_literal(REPLICATION_ROLE)}) THEN CREATE ROLE {role}; END IF; END $certlife$;\n"
        f"ALTER ROLE {role} WITH LOGIN REPLICATION NOSUPERUSER PASSWORD {pgroles.quote_literal(password)};\n",
        hide=(password,),
    )
    # The primary's tuning: a standby needs max_connections >= the primary's.
    postgres.create_cluster(version, name, port)
    data = Path(f"/var/lib/postgresql/{version}/{name}")
    passfile = data.parent / f"{name}.pgpass"
    passfile.write_text(f"127.0.0.1:{settings.postgres_port}:*:{REPLICATION_ROLE}:{password}\n")
    _owned_by_postgres(passfile, 0o600)
    shutil.rmtree(data)  # pg_createcluster's empty cluster: the base backup replaces it
    data.mkdir(mode=0o700)
    _owned_by_postgres(data, 0o700)
    postgres._run(
        ["runuser", "-u", "postgres", "--", "env", f"PGPASSFILE={passfile}",
         f"/usr/lib/postgresql/{version}/bin/pg_basebackup", "-h", "127.0.0.1", "-p", str(settings.postgres_port),
         "-U", REPLICATION_ROLE, "-D", str(data), "-X", "stream", "-c", "fast", "--no-password"],
        "copy the primary with pg_basebackup",
    )  # fmt: skip
    conninfo = (
        f"host=127.0.0.1 port={settings.postgres_port} user={REPLICATION_ROLE} "
        f"application_name={STANDBY_NAME} passfile={passfile}"
    )
    with open(data / "postgresql.auto.conf", "a") as auto:
        auto.write(f"primary_conninfo = '{conninfo}'\n")
    (data / "standby.signal").touch()
    for path in (data / "postgresql.auto.conf", data / "standby.signal"):
        _owned_by_postgres(path, 0o600)
    postgres._run(["pg_ctlcluster", version, name, "start"], "start the PostgreSQL replica")
    return ReplicaState(version, name, port, primary, settings.postgres_port)


def promote(settings: StackSettings) -> ReplicaState:
    """Make the replica the primary: stop and fence the old primary, promote, wait until writable."""
    state = pgstate.load(settings.shared_state)
    if state is None:
        raise StackError("this stack has no PostgreSQL replica: start one with certctl stack up --pg-replica")
    if state.promoted:
        return state
    if port_open(state.primary_port):  # a switchover (or a primary dying): it must take no more writes
        subprocess.run(
            ["pg_ctlcluster", state.version, state.primary_cluster, "stop", "-m", "fast"],
            capture_output=True, check=False,
        )  # fmt: skip
        primary = state.primary_port
        refused = f"the primary on port {primary} still answers and would not stop: stop it, then promote"
        _wait("", lambda: not port_open(primary), refused)
    Path(f"/etc/postgresql/{state.version}/{state.primary_cluster}/start.conf").write_text("disabled\n")
    postgres._run(["pg_ctlcluster", state.version, state.cluster, "promote"], "promote the replica")
    port = state.port
    _wait("was not promoted", lambda: _in_recovery(port) is False)
    state = dataclasses.replace(state, promoted=True)
    pgstate.save(settings.shared_state, state)
    return state


def stop(state: ReplicaState) -> bool:
    """Stop the replica once its primary is down (a running primary's commits would wait for it);
    True when it was stopped."""
    if not port_open(state.port) or (not state.promoted and port_open(state.primary_port)):
        return False
    postgres._run(["pg_ctlcluster", state.version, state.cluster, "stop", "-m", "fast"], "stop the replica")
    return True


def status(settings: StackSettings, state: ReplicaState) -> list[str]:
    """Two lines: the primary (and how the replica follows it) and the replica."""
    primary = f"127.0.0.1:{state.primary_port}"
    if state.promoted:
        first = f"postgres: fenced at {primary} (its replica was promoted; it stays stopped)"
    elif _in_recovery(state.primary_port) is None:
        first = f"postgres: stopped at {primary}"
    else:
        follows = _replication_state(state.primary_port) or "not connected"
        first = f"postgres: primary at {primary}, replica {STANDBY_NAME} {follows}"
    roles = {None: "stopped", True: "standby (streaming from the primary)", False: "primary"}
    role = roles[_in_recovery(state.port)]
    promoted = " (promoted)" if state.promoted else ""
    return [first, f"postgres replica: {role}{promoted} at 127.0.0.1:{state.port}"]
