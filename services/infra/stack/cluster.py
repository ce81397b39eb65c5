"""A local KRaft cluster: N combined controller+broker nodes on loopback ports.

Each node is secured exactly like the single broker (``stack/kafka.py``: SASL_SSL,
SCRAM-SHA-512 principals, PLAIN admin, StandardAuthorizer) with a certificate
signed by the same CA. Its files live under ``StackSettings.state``
(``$CERTLIFE_HOME/stack-cluster-PORT``): ``kafka-I/`` per node (properties, data,
pid file, logs), ``cluster.id``, and the cluster's own secrets. The single
broker's folder and processes are never touched.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

from certlife.services.infra.fileio import write_file_atomic
from certlife.services.infra.stack import jvm, kafka
from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.procs import alive, port_open, read_pid, stop_pid
from certlife.services.infra.stack.secrets import ensure_secret
from certlife.services.infra.stack.settings import StackSettings, broker_keystore

#: Each node's heap: three JVMs share a small machine with the services.
NODE_HEAP = ["-Xmx512m", "-Xms128m"]
#: A node that stops heartbeating is fenced after 4 s (Kafka's default: 9 s), and its partitions
#: get new leaders then: a broker killed without shutdown stalls writes about that long.
FAILURE_DETECTION = ("broker.session.timeout.ms=4000", "broker.heartbeat.interval.ms=1000")


def node_home(settings: StackSettings, node: int) -> Path:
    """The folder of node ``node`` (1-based)."""
    return settings.state / f"kafka-{node}"


def node_pid(settings: StackSettings, node: int) -> int | None:
    """The live process of node ``node``, or None."""
    return read_pid(node_home(settings, node) / "kafka.pid")


def nodes(settings: StackSettings) -> range:
    """The node ids, 1..N."""
    return range(1, settings.brokers + 1)


def layout(settings: StackSettings, node: int) -> kafka.Layout:
    """Node ``node``'s listeners, files and quorum."""
    client = f"127.0.0.1:{settings.client_ports[node - 1]}"
    voters = ",".join(f"{i}@127.0.0.1:{settings.controller_ports[i - 1]}" for i in nodes(settings))
    return kafka.Layout(
        ((kafka.CLIENT, client, client),),
        f"127.0.0.1:{settings.controller_ports[node - 1]}",
        broker_keystore(settings.state),
        settings.ca_file,
        node_home(settings, node) / "data",
        node_id=node,
        voters=voters,
        replication=settings.replication_factor,
        extra=FAILURE_DETECTION,
    )


def preflight(settings: StackSettings) -> str:
    """Java present and every port of a node that is not ours free; return the java path."""
    java = jvm.java_path()
    for node in nodes(settings):
        if node_pid(settings, node) is not None:
            continue
        for port in (settings.client_ports[node - 1], settings.controller_ports[node - 1]):
            if port_open(port):
                raise StackError(
                    f"port {port} is already in use by another process: stop it, or choose other "
                    "ports with CERTLIFE_KAFKA_PORT / CERTLIFE_KAFKA_CONTROLLER_PORT"
                )
    return java


def running(settings: StackSettings) -> list[int]:
    """The nodes whose process this launcher started is alive and listening."""
    return [
        n
        for n in nodes(settings)
        if node_pid(settings, n) is not None and port_open(settings.client_ports[n - 1])
    ]


def active_controller(settings: StackSettings) -> int | None:
    """The node the running nodes last recorded as the KRaft quorum's leader (the active
    controller), from their ``quorum-state`` files; None when none has one."""
    import json

    best: tuple[int, int] | None = None
    for node in running(settings):
        path = node_home(settings, node) / "data" / "__cluster_metadata-0" / "quorum-state"
        try:
            state = json.loads(path.read_text())
            epoch, leader = int(state["leaderEpoch"]), int(state["leaderId"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if leader > 0 and (best is None or epoch > best[0]):
            best = (epoch, leader)
    return None if best is None else best[1]


def _cluster_id(settings: StackSettings) -> str:
    """The id every node is formatted with (made once, kept in ``state/cluster.id``)."""
    path = settings.state / "cluster.id"
    if not path.exists():
        write_file_atomic(path, (uuid.uuid4().hex[:22] + "\n").encode())
    return path.read_text().strip()


def prepare(settings: StackSettings) -> tuple[str, str]:
    """TLS, admin password, each node's properties and formatted storage; (java, classpath)."""
    from certlife.services.infra.stack.tls import ensure_tls

    java = preflight(settings)
    classpath = f"{jvm.ensure_jars(settings)}/*"
    try:
        settings.state.mkdir(parents=True, exist_ok=True)
        ensure_tls(settings.state, settings.shared_state)
        password = ensure_secret(settings.state, "kafka", kafka.ADMIN)
        cluster_id = _cluster_id(settings)
        for node in nodes(settings):
            home = node_home(settings, node)
            home.mkdir(parents=True, exist_ok=True)
            props = home / "server.properties"
            text = kafka.broker_properties(layout(settings, node), password)
            write_file_atomic(props, text.encode(), mode=0o600)
    except OSError as exc:
        raise StackError(
            f"cannot write the cluster's files under {settings.state} ({exc.strerror})"
        ) from None
    for node in nodes(settings):
        home = node_home(settings, node)
        if not (home / "data" / "meta.properties").exists():
            jvm.format_storage(java, classpath, home / "server.properties", cluster_id)
    return java, classpath


def start_node(settings: StackSettings, node: int, java: str, classpath: str) -> bool:
    """Start node ``node`` unless it runs; True when this call started it."""
    home = node_home(settings, node)
    if node_pid(settings, node) is not None:
        return False
    proc = jvm.spawn(java, classpath, home / "server.properties", home, NODE_HEAP)
    (home / "kafka.pid").write_text(f"{proc.pid}\n")
    return True


def stop_node(settings: StackSettings, node: int) -> bool:
    """Stop node ``node`` if this launcher started it; True when one was stopped."""
    pid_file = node_home(settings, node) / "kafka.pid"
    pid = read_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    stop_pid(pid)
    return True


def wait_for_nodes(settings: StackSettings, timeout: float = kafka.READY_TIMEOUT) -> None:
    """Until every node is registered and the cluster accepts an acks=all produce."""
    from certlife.services.infra.stack.probe import produce_probe
    from certlife.services.infra.stack.readiness import registered_brokers

    start = time.monotonic()
    told = False
    access = kafka.admin_access(settings)
    while time.monotonic() - start < timeout:
        dead = [n for n in nodes(settings) if node_pid(settings, n) is None]
        if dead:
            home = node_home(settings, dead[0])
            raise StackError(f"Kafka node {dead[0]} exited at start; see {home}/stdout.log")
        ports_open = all(port_open(p) for p in settings.client_ports)
        if ports_open and registered_brokers(access) >= settings.brokers and produce_probe(access):
            return
        if not told and time.monotonic() - start > 30:
            told = True
            print(
                f"certctl: waiting for {settings.brokers} Kafka nodes (see {settings.state}/kafka-*/server.log)"
            )
        time.sleep(0.5)
    raise StackError(
        f"the Kafka cluster did not accept a produce request within {timeout:.0f} s; "
        f"see {settings.state}/kafka-*/server.log"
    )


def start(settings: StackSettings) -> bool:
    """Start every node that is not running and wait for the whole cluster; True when any started."""
    from certlife.services.infra.stack.readiness import restore_credentials

    if len(running(settings)) == settings.brokers:
        return False
    java, classpath = prepare(settings)
    started = [start_node(settings, n, java, classpath) for n in nodes(settings)]
    wait_for_nodes(settings)
    restore_credentials(settings)
    return any(started)


def stop(settings: StackSettings, timeout: float = 30.0) -> list[str]:
    """Stop every node this launcher started, all at once; their names.

    One by one, the last node would wait for a quorum that is already gone.
    """
    pids = {n: node_pid(settings, n) for n in nodes(settings)}
    for node in nodes(settings):
        (node_home(settings, node) / "kafka.pid").unlink(missing_ok=True)
    live = {n: pid for n, pid in pids.items() if pid is not None}
    for pid in live.values():
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in live.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in live.values():
        if alive(pid):
            stop_pid(pid, timeout=10)
    return [f"kafka-{n}" for n in live]


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to node process ``pid``'s group (the JVM is its leader)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


def status(settings: StackSettings) -> list[str]:
    """One line per node."""
    lines = []
    for n in nodes(settings):
        address = f"127.0.0.1:{settings.client_ports[n - 1]}"
        pid = node_pid(settings, n)
        if pid is not None:
            lines.append(f"kafka-{n}: running (pid {pid}) at {address}")
        elif port_open(settings.client_ports[n - 1]):
            lines.append(f"kafka-{n}: something else listens on {address}")
        else:
            lines.append(f"kafka-{n}: stopped")
    return lines
