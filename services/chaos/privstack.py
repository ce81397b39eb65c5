"""The chaos suite's own Kafka and PostgreSQL: a private stack nobody else's tests use.

A run claims a *slot* (an flock on ``BASE/chaos/slot-K.lock``, BASE being the
caller's ``CERTLIFE_HOME``) whose ports no one else holds: Kafka clients from
``19092 + 100*K`` (a cluster's nodes on the next ports, controllers after them)
and PostgreSQL on ``5632 + 2*K`` (its replica, if any, one above). Its
``CERTLIFE_HOME`` is ``BASE/chaos/slot-K``, which borrows the cached Kafka jars
(symlinks); every run starts with empty Kafka data and fresh PostgreSQL clusters. The default stack (9092, 5432)
is never touched: every ``up``/``down`` here is given this slot's settings.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from certlife.services.chaos.errors import ChaosError, NoFreeSlot
from certlife.services.infra import stack
from certlife.services.infra.stack import cluster, kafka, pgstate
from certlife.services.infra.stack.procs import port_open, read_pid
from certlife.services.infra.stack.settings import KAFKA_VERSION, StackSettings

SLOTS = 4
KAFKA_BASE, POSTGRES_BASE = 19092, 5632


@dataclass(frozen=True)
class PrivateStack:
    """One claimed slot: its settings and the environment that selects it."""

    slot: int
    settings: StackSettings

    @property
    def env(self) -> dict[str, str]:
        """The variables that make any certlife process use this stack (and only them)."""
        s = self.settings
        return {**s.selection_env(), "CERTLIFE_POSTGRES_PORT": str(s.postgres_port)}

    def up(self, prefix: str, pg_replica: bool = False) -> stack.Endpoints:
        """Start (or complete) the stack and provision the deployment of ``prefix``."""
        return stack.up(self.settings, prefix, pg_replica=pg_replica)

    def down(self) -> list[str]:
        """Stop what this slot's launcher started (Kafka and its PostgreSQL)."""
        stopped = stack.down(self.settings)
        if self.settings.clustered:  # the cluster's down leaves PostgreSQL to the single stack's
            stopped += stack.down(_single(self.settings, self.slot))
        return stopped

    # -- PostgreSQL --------------------------------------------------------------------------

    def _cluster(self) -> tuple[str, str]:
        marker = self.settings.shared_state / "postgres.started"
        try:
            version, name = marker.read_text().split()
        except (OSError, ValueError):
            raise ChaosError(f"the private PostgreSQL was not started by this run ({marker})") from None
        return version, name

    def postgres_stop(self) -> None:
        """Stop the private PostgreSQL at once (``-m immediate``: a crash, recovery at start)."""
        version, name = self._cluster()
        _run(["pg_ctlcluster", version, name, "stop", "-m", "immediate"], "stop PostgreSQL")

    def postgres_start(self) -> None:
        """Start it again (and wait until it takes connections)."""
        version, name = self._cluster()
        _run(["pg_ctlcluster", version, name, "start"], "start PostgreSQL")

    # -- Kafka -------------------------------------------------------------------------------

    def broker_pid(self, node: int = 1) -> int | None:
        """The live process of broker ``node`` (1 for the single broker)."""
        if self.settings.clustered:
            return cluster.node_pid(self.settings, node)
        return read_pid(self.settings.state / "kafka" / "kafka.pid")

    def broker_stop(self, node: int = 1) -> None:
        """Stop broker ``node`` cleanly (SIGTERM, as an operator's restart does)."""
        if self.settings.clustered:
            cluster.stop_node(self.settings, node)
        else:
            kafka.stop(self.settings)

    def kafka_start(self) -> None:
        """Start what is not running of Kafka and wait until it takes produce requests.

        Not ``stack.up``: that also re-provisions the deployment's principals, deleting and
        re-creating their ACLs, and a service asking in between is refused (a 3-broker run's
        projections got GroupAuthorizationFailed and stayed stuck); restarting a node should not.
        """
        if self.settings.clustered:
            cluster.start(self.settings)
        else:
            kafka.start(self.settings)

    def broker_kill(self, node: int) -> None:
        """SIGKILL broker ``node`` (its machine lost power)."""
        import signal

        pid = self.broker_pid(node)
        if pid is None:
            raise ChaosError(f"Kafka node {node} is not running")
        cluster.signal_group(pid, signal.SIGKILL)

    def active_controller(self) -> int:
        """The KRaft quorum's leader: the highest-epoch ``quorum-state`` any node wrote."""
        best = (-1, -1)
        for node in cluster.nodes(self.settings):
            path = cluster.node_home(self.settings, node) / "data" / "__cluster_metadata-0" / "quorum-state"
            with contextlib.suppress(OSError, ValueError, KeyError):
                state = json.loads(path.read_text())
                best = max(best, (int(state["leaderEpoch"]), int(state["leaderId"])))
        if best[1] < 1:
            raise ChaosError("no node of the private cluster names a quorum leader")
        return best[1]


def _single(settings: StackSettings, slot: int) -> StackSettings:
    from dataclasses import replace

    port = KAFKA_BASE + 100 * slot
    return replace(settings, brokers=1, kafka_port=port, controller_port=port + 1)


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()
        raise ChaosError(f"could not {what}: {tail[-1] if tail else f'exit {result.returncode}'}")


def slot_settings(base: Path, slot: int, brokers: int) -> StackSettings:
    """The settings of slot ``slot`` with ``brokers`` Kafka nodes."""
    port = KAFKA_BASE + 100 * slot
    env = {
        "CERTLIFE_HOME": str(base / "chaos" / f"slot-{slot}"),
        "CERTLIFE_KAFKA_BROKERS": str(brokers),
        "CERTLIFE_KAFKA_PORT": str(port),
        "CERTLIFE_KAFKA_CONTROLLER_PORT": str(port + (1 if brokers == 1 else brokers)),
        "CERTLIFE_POSTGRES_PORT": str(POSTGRES_BASE + 2 * slot),
    }
    return StackSettings.from_env(env)


def _ports(settings: StackSettings) -> list[int]:
    return [*settings.client_ports, *settings.controller_ports, settings.postgres_port]


def _fresh(base: Path, home: Path) -> None:
    """Borrow the cached jars; drop the Kafka data of an older run (topics would pile up)."""
    home.mkdir(parents=True, exist_ok=True)
    for name in (f"kafka-{KAFKA_VERSION}", "m2"):
        if (base / name).exists() and not (home / name).exists():
            (home / name).symlink_to(base / name)
    shutil.rmtree(home / "stack" / "kafka", ignore_errors=True)
    for old in home.glob("stack-cluster-*"):
        shutil.rmtree(old, ignore_errors=True)


def _fresh_postgres(settings: StackSettings) -> None:
    """Drop this slot's PostgreSQL clusters (primary, replica): each run starts from an empty server,
    whatever an older run left (schemas, a promoted replica, a fenced primary)."""
    names = {pgstate.primary_cluster(settings.postgres_port), pgstate.replica_cluster(settings.postgres_port)}
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False).stdout
    for line in listed.splitlines():
        version, name = [*line.split(), "", ""][:2]
        if name in names:
            _run(["pg_dropcluster", "--stop", version, name], f"drop the old PostgreSQL cluster {name}")
    for name in names:  # pg_dropcluster leaves files it did not write (the replica's sync conf.d)
        for leftover in Path("/etc/postgresql").glob(f"*/{name}"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in Path("/var/lib/postgresql").glob(f"*/{name}"):
            shutil.rmtree(leftover, ignore_errors=True)
        for passfile in Path("/var/lib/postgresql").glob(f"*/{name}.pgpass"):
            passfile.unlink(missing_ok=True)
    pgstate.forget(settings.shared_state)
    (settings.shared_state / "postgres.started").unlink(missing_ok=True)


@contextlib.contextmanager
def claimed(base: Path, brokers: int) -> Iterator[PrivateStack]:
    """The first free slot, held (flock) until the block ends; leftovers of a dead run are stopped."""
    (base / "chaos").mkdir(parents=True, exist_ok=True)
    for slot in range(SLOTS):
        with open(base / "chaos" / f"slot-{slot}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            settings = slot_settings(base, slot, brokers)
            for count in (1, 3):  # a dead run of this slot may have left either shape running
                with contextlib.suppress(stack.StackError):
                    PrivateStack(slot, slot_settings(base, slot, count)).down()
            if any(port_open(p) for p in _ports(settings)):
                continue  # someone else's ports
            _fresh(base, settings.home)
            _fresh_postgres(settings)
            yield PrivateStack(slot, settings)
            return
    raise NoFreeSlot(f"no free private stack slot under {base / 'chaos'} (tried {SLOTS}): another chaos run?")


def scrubbed_environ() -> dict[str, str]:
    """``os.environ`` without any of certlife's variables (the settings registry): nothing may
    point at another stack, topic prefix, schema or key folder."""
    from certlife.services.infra.settings import VARIABLES

    names = {variable.name for variable in VARIABLES}
    return {k: v for k, v in os.environ.items() if k not in names}
