"""The single Kafka broker in KRaft mode, and the server.properties every local node is made from.

The jars and the JVM are ``stack/jvm.py``'s; the produce probe ``stack/probe.py``'s.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from certlife.services.infra.fileio import write_file_atomic
from certlife.services.infra.kafka_access import MECHANISM, KafkaAccess
from certlife.services.infra.secret import Secret
from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.jvm import ensure_jars, format_storage, java_path, spawn
from certlife.services.infra.stack.procs import port_open, read_pid, stop_pid
from certlife.services.infra.stack.secrets import ensure_secret, read_secret
from certlife.services.infra.stack.settings import StackSettings, broker_keystore, ca_file

#: Listener names: clients and the inter-broker path on SASL_SSL, the KRaft controller on its own port.
CLIENT, CONTROLLER, UNSAFE = "CLIENT", "CONTROLLER", "UNSAFE_PLAINTEXT"
#: The launcher's principal: the only super user; its password lives in state/secrets/kafka/admin.
ADMIN = "admin"
#: How long a SASL session lasts before the broker requires re-authentication (a revoked
#: principal is cut off then at the latest; its ACLs are deleted at once on revocation).
REAUTH_MS = 3_600_000


def _jaas(module: str, options: dict[str, str]) -> str:
    quoted = " ".join(f'{k}="{v}"' for k, v in options.items())
    return f"org.apache.kafka.common.security.{module} required {quoted};"


@dataclass(frozen=True)
class Layout:
    """Where a broker listens and keeps its files: the native stack's, or compose's (stack/compose.py)."""

    #: ``(listener name, bind host:port, advertised host:port)`` of the SASL_SSL client listeners.
    clients: tuple[tuple[str, str, str], ...]
    controller: str
    keystore: Path
    truststore: Path
    data: Path
    #: The unsafe plaintext listener's port on 127.0.0.1 (None: none).
    plaintext_port: int | None = None
    #: This node's id and the quorum's voters (``id@host:port,…``; None: this node alone).
    node_id: int = 1
    voters: str | None = None
    #: Replicas of the internal topics (offsets, transaction state log) and the topics' default.
    replication: int = 1
    #: Further ``server.properties`` lines (a cluster's failure detection).
    extra: tuple[str, ...] = ()

    @property
    def inter_broker(self) -> str:
        """The listener the broker uses to reach itself (the last client listener)."""
        return self.clients[-1][0]


def native_layout(settings: StackSettings, data: Path) -> Layout:
    """The native stack: one client listener and the controller on 127.0.0.1."""
    k, c = settings.kafka_port, settings.controller_port
    address = f"127.0.0.1:{k}"
    return Layout(
        ((CLIENT, address, address),),
        f"127.0.0.1:{c}",
        broker_keystore(settings.state),
        settings.ca_file,
        data,
        settings.plaintext_port,
    )


def _replication(layout: Layout) -> list[str]:
    """Internal topics' replication; a cluster also gets its defaults (``min.insync.replicas``)."""
    from certlife.services.infra.topics import min_insync

    r, isr = layout.replication, min_insync(layout.replication)
    lines = [
        f"offsets.topic.replication.factor={r}",
        "offsets.topic.num.partitions=4",
        f"transaction.state.log.replication.factor={r}",
        f"transaction.state.log.min.isr={isr}",
        "transaction.state.log.num.partitions=4",
    ]
    if r > 1:
        lines += [f"default.replication.factor={r}", f"min.insync.replicas={isr}"]
    return lines


def _properties(settings: StackSettings, data: Path, admin_password: str) -> str:
    """The native broker's server.properties."""
    return broker_properties(native_layout(settings, data), admin_password)


def broker_properties(layout: Layout, admin_password: str) -> str:
    """server.properties (0600: it holds the admin password for the broker's own connections)."""
    listeners = [f"{name}://{bind}" for name, bind, _ in layout.clients]
    listeners.append(f"{CONTROLLER}://{layout.controller}")
    advertised = [f"{name}://{shown}" for name, _, shown in layout.clients]
    protocols = [f"{name}:SASL_SSL" for name, _, _ in layout.clients] + [f"{CONTROLLER}:SASL_SSL"]
    if layout.plaintext_port:
        listeners.append(f"{UNSAFE}://127.0.0.1:{layout.plaintext_port}")
        advertised.append(f"{UNSAFE}://127.0.0.1:{layout.plaintext_port}")
        protocols.append(f"{UNSAFE}:PLAINTEXT")
    admin = {"username": ADMIN, "password": admin_password}
    plain = _jaas("plain.PlainLoginModule", {**admin, f"user_{ADMIN}": admin_password})
    client_sasl = []
    for name, _, _ in layout.clients:
        client_sasl += [
            # Clients: SCRAM-SHA-512 over TLS. The admin (and the broker's own inter-broker
            # connections, as admin): PLAIN over TLS against this 0600 file, so that the
            # launcher never depends on the SCRAM store (see stack/credentials.py).
            f"listener.name.{name.lower()}.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN",
            f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            f"listener.name.{name.lower()}.plain.sasl.jaas.config=" + plain,
        ]
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={layout.node_id}",
            f"controller.quorum.voters={layout.voters or f'{layout.node_id}@{layout.controller}'}",
            f"listeners={','.join(listeners)}",
            f"advertised.listeners={','.join(advertised)}",
            f"controller.listener.names={CONTROLLER}",
            f"listener.security.protocol.map={','.join(protocols)}",
            f"inter.broker.listener.name={layout.inter_broker}",
            "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            *client_sasl,
            # The controller listener: PLAIN over TLS, one user (the admin), kept in this file;
            # SCRAM cannot serve it (its credentials live in the metadata the controller serves).
            f"listener.name.{CONTROLLER.lower()}.sasl.enabled.mechanisms=PLAIN",
            f"listener.name.{CONTROLLER.lower()}.plain.sasl.jaas.config=" + plain,
            "sasl.mechanism.controller.protocol=PLAIN",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={layout.keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={layout.truststore}",
            "ssl.endpoint.identification.algorithm=https",
            "ssl.protocol=TLSv1.3",
            "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
            # Authorization: nothing without an ACL; the admin is the only super user.
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            f"super.users=User:{ADMIN}",
            f"connections.max.reauth.ms={REAUTH_MS}",
            "auto.create.topics.enable=false",
            f"log.dirs={layout.data}",
            "num.partitions=1",
            *_replication(layout),
            *layout.extra,
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


def preflight(settings: StackSettings) -> str:
    """Check Java and free ports before anything starts; return the java path."""
    java = java_path()
    if read_pid(settings.state / "kafka" / "kafka.pid") is not None:
        return java
    for port in (settings.kafka_port, settings.controller_port):
        if port_open(port):
            raise StackError(
                f"port {port} is already in use by another process: stop it, or choose "
                "other ports with CERTLIFE_KAFKA_PORT / CERTLIFE_KAFKA_CONTROLLER_PORT"
            )
    return java


_SECURE_MARKER = "certlife.secure"


def admin_access(settings: StackSettings) -> KafkaAccess:
    """The launcher's admin principal on the local broker or cluster (the only super user)."""
    from dataclasses import replace

    return replace(admin_at(settings.state, settings.kafka_bootstrap), ca_file=settings.ca_file)


def admin_at(state: Path, bootstrap: str) -> KafkaAccess:
    """The admin of the broker whose files are under ``state`` (native: the stack folder; compose: its volume).

    It logs in with PLAIN over TLS, checked against the broker's properties file.
    """
    password = read_secret(state, "kafka", ADMIN)
    if password is None:
        raise StackError(f"the broker's admin password is missing under {state}: run certctl stack up")
    return KafkaAccess(bootstrap, ADMIN, Secret(password), ca_file(state), mechanism="PLAIN")


def start(settings: StackSettings) -> bool:
    """Start the broker unless ours already runs; True when this call started it."""
    from certlife.services.infra.stack import credentials
    from certlife.services.infra.stack.tls import ensure_tls

    home = settings.state / "kafka"
    pid_file = home / "kafka.pid"
    if running(settings):
        return False
    java = preflight(settings)
    libs = ensure_jars(settings)
    data = home / "data"
    try:
        home.mkdir(parents=True, exist_ok=True)
        ensure_tls(settings.state)
        admin_password = ensure_secret(settings.state, "kafka", ADMIN)
        if (data / "meta.properties").exists() and not (data / _SECURE_MARKER).exists():
            # Formatted by a launcher without authentication: its data cannot be secured in place.
            print(f"certctl: the local broker's data under {data} predates SASL/TLS: re-formatting it")
            shutil.rmtree(data)
        props = home / "server.properties"
        write_file_atomic(props, _properties(settings, data, admin_password).encode(), mode=0o600)
    except OSError as exc:
        raise StackError(f"cannot write the broker's files under {home} ({exc.strerror})") from None
    classpath = f"{libs}/*"
    if not (data / "meta.properties").exists():
        format_storage(java, classpath, props)
        (data / _SECURE_MARKER).write_text("SASL_SSL, SCRAM-SHA-512, StandardAuthorizer\n")
    proc = spawn(java, classpath, props, home, [f"-Xmx{settings.kafka_heap}", "-Xms256m"])
    pid_file.write_text(f"{proc.pid}\n")
    _wait_ready(settings, proc, home)
    from aiokafka.errors import KafkaError

    try:
        asyncio.run(credentials.restore(settings.state, admin_access(settings), _known_login(settings)))
    except KafkaError as exc:
        raise StackError(
            f"the Kafka broker started but refused the restored credentials ({exc}); see {home}/server.log"
        ) from None
    return True


def _known_login(settings: StackSettings) -> KafkaAccess | None:
    """A service principal whose password the launcher keeps (to see restored credentials take effect)."""
    from dataclasses import replace

    password = read_secret(settings.state, "kafka", "certlife-commands")
    if password is None:
        return None
    return replace(
        admin_access(settings), username="certlife-commands", password=Secret(password), mechanism=MECHANISM
    )


#: Seconds the broker may take to accept a produce request (it loads every partition first).
READY_TIMEOUT = 300


def _wait_ready(settings: StackSettings, proc: subprocess.Popen[bytes], home: Path) -> None:
    from certlife.services.infra.stack.probe import produce_probe

    start = time.monotonic()
    deadline = start + READY_TIMEOUT
    told = False
    access = admin_access(settings)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(
                f"the Kafka broker exited at start (code {proc.returncode}); see {home}/stdout.log"
            )
        if port_open(settings.kafka_port) and produce_probe(access):
            return
        if not told and time.monotonic() - start > 20:
            told = True
            print(f"certctl: waiting for the Kafka broker to load its partitions (see {home}/server.log)")
        time.sleep(0.5)
    stop_pid(proc.pid)
    raise StackError(
        f"the Kafka broker did not accept a produce request within {READY_TIMEOUT} s; see {home}/server.log"
    )


def running(settings: StackSettings) -> bool:
    """True when the broker this launcher started is up."""
    return read_pid(settings.state / "kafka" / "kafka.pid") is not None and port_open(settings.kafka_port)


def status(settings: StackSettings) -> str:
    """One line describing the broker's state."""
    pid = read_pid(settings.state / "kafka" / "kafka.pid")
    if pid is not None:
        return f"kafka: running (pid {pid}) at {settings.kafka_bootstrap}"
    if port_open(settings.kafka_port):
        return f"kafka: something else listens on {settings.kafka_bootstrap}"
    return "kafka: stopped"


def stop(settings: StackSettings) -> bool:
    """Stop the broker this launcher started; True when one was stopped."""
    pid_file = settings.state / "kafka" / "kafka.pid"
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    stop_pid(pid)
    pid_file.unlink(missing_ok=True)
    return True


def reset(settings: StackSettings) -> None:
    """Remove the broker's data (only while stopped)."""
    shutil.rmtree(settings.state / "kafka" / "data", ignore_errors=True)
    os.sync()
