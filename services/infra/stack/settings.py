"""Where the local stack lives and which ports it uses.

Every value can be overridden from the environment; nothing is read at import
time. The defaults match compose.yaml (a unit test keeps the two in step).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from certlife.contracts.admission import ascii_shown
from certlife.services.infra.stack import pgstate
from certlife.services.infra.stack.errors import StackError

KAFKA_VERSION = "4.1.1"
POSTGRES_DEFAULT_VERSION = "15"
#: A cluster's first client port when ``CERTLIFE_KAFKA_PORT`` is unset (the single broker keeps 9092).
CLUSTER_KAFKA_PORT = 9192
#: The most brokers the launcher starts (combined controller+broker nodes: an odd quorum of voters).
MAX_BROKERS = 5


def tls_dir(state: Path) -> Path:
    """Folder of the CA and broker certificate files (``stack/tls.py`` makes them)."""
    return state / "tls"


def ca_file(state: Path) -> Path:
    """The CA certificate (PEM) clients trust."""
    return tls_dir(state) / "ca.pem"


def broker_keystore(state: Path) -> Path:
    """The broker's PEM keystore: PKCS#8 private key followed by its certificate chain."""
    return tls_dir(state) / "broker.pem"


@dataclass(frozen=True)
class StackSettings:
    """Ports, credentials and folders of the native local stack."""

    home: Path
    kafka_port: int = 9092
    controller_port: int = 9093
    postgres_port: int = 5432
    postgres_db: str = "certlife"
    postgres_user: str = "certlife"
    postgres_password: str = "certlife"
    kafka_heap: str = "768m"
    #: Unsafe extra listener without TLS or authentication (None: none); only when asked for.
    plaintext_port: int | None = None
    #: Combined controller+broker KRaft nodes. Node ``i`` (1-based) listens for clients on
    #: ``kafka_port + i - 1`` and for its controller on ``controller_port + i - 1``.
    brokers: int = 1
    #: Port of the streaming replica ``certctl stack up --pg-replica`` starts (None: the primary's + 1).
    postgres_replica_port: int | None = None
    #: True once this stack has a replica (``stack/pgstate.py``): the database URL lists both servers.
    postgres_replicated: bool = False

    @property
    def replica_port(self) -> int:
        """The replica's port (``CERTLIFE_POSTGRES_REPLICA_PORT``, else the primary's port + 1)."""
        return self.postgres_replica_port or self.postgres_port + 1

    @property
    def clustered(self) -> bool:
        """True for a multi-broker cluster (its own state folder; it shares the CA and PostgreSQL)."""
        return self.brokers > 1

    @property
    def client_ports(self) -> list[int]:
        """The client (SASL_SSL) port of each node, node 1 first."""
        return [self.kafka_port + i for i in range(self.brokers)]

    @property
    def controller_ports(self) -> list[int]:
        """The KRaft controller port of each node, node 1 first."""
        return [self.controller_port + i for i in range(self.brokers)]

    @property
    def replication_factor(self) -> int:
        """Replicas of every certlife topic and internal log: min(3, brokers)."""
        return min(3, self.brokers)

    @property
    def kafka_libs(self) -> Path:
        """Cached broker jars, shared by every checkout of the project."""
        return self.home / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def maven_repo(self) -> Path:
        """Maven's local repository, kept outside the project tree."""
        return self.home / "m2"

    @property
    def shared_state(self) -> Path:
        """The single-broker stack's folder; it also holds what every local stack shares: the CA,
        and PostgreSQL's start marker and role passwords (one database server for all)."""
        return self.home / "stack"

    @property
    def state(self) -> Path:
        """Data, logs, pid files and Kafka secrets of this stack (a cluster: ``stack-cluster-PORT``)."""
        if self.clustered:
            return self.home / f"stack-cluster-{self.kafka_port}"
        return self.shared_state

    @property
    def ca_file(self) -> Path:
        """The local stacks' CA certificate (PEM), which clients trust (``stack/tls.py`` makes it)."""
        return ca_file(self.shared_state)

    @property
    def kafka_bootstrap(self) -> str:
        """The bootstrap list: every node's client address, comma-separated."""
        return ",".join(f"127.0.0.1:{port}" for port in self.client_ports)

    def serves(self, bootstrap: str) -> bool:
        """True when every address of ``bootstrap`` is one of this stack's nodes (any of them will do)."""
        return {a.strip() for a in bootstrap.split(",")} <= set(self.kafka_bootstrap.split(","))

    def selection_env(self) -> dict[str, str]:
        """The variables that make another process's ``from_env`` pick this stack (not its secrets)."""
        return {
            "CERTLIFE_HOME": str(self.home),
            "CERTLIFE_KAFKA_BROKERS": str(self.brokers),
            "CERTLIFE_KAFKA_PORT": str(self.kafka_port),
            "CERTLIFE_KAFKA_CONTROLLER_PORT": str(self.controller_port),
        }

    @property
    def database_url(self) -> str:
        """A libpq URL for the project's database and role (:meth:`postgres_url`)."""
        return self.postgres_url(self.postgres_user, self.postgres_password)

    def postgres_url(self, user: str, password: str) -> str:
        """A libpq URL of the project's database for ``user``.

        With a replica it lists the primary and the replica with
        ``target_session_attrs=read-write``: a client connects to whichever of the
        two is writable, the promoted replica after a failover.
        """
        hosts, query = f"127.0.0.1:{self.postgres_port}", ""
        if self.postgres_replicated:
            hosts, query = f"{hosts},127.0.0.1:{self.replica_port}", "?target_session_attrs=read-write"
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"postgresql://{credentials}@{hosts}/{self.postgres_db}{query}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> StackSettings:
        """Build settings from ``CERTLIFE_*`` environment variables."""
        env = dict(os.environ if env is None else env)
        home = Path(env.get("CERTLIFE_HOME") or Path.home() / ".cache" / "certlife")
        brokers = broker_count(env.get("CERTLIFE_KAFKA_BROKERS") or "1")
        kafka_port = _port(env, "CERTLIFE_KAFKA_PORT", 9092 if brokers == 1 else CLUSTER_KAFKA_PORT)
        postgres_port = _port(env, "CERTLIFE_POSTGRES_PORT", 5432)
        replica = pgstate.load(home / "stack")  # a replica this home's launcher created
        if replica is not None and replica.primary_port != postgres_port:
            replica = None  # another primary's replica: not this one's
        return cls(
            home=home,
            kafka_port=kafka_port,
            # A cluster's controllers follow its client ports unless placed explicitly.
            controller_port=_port(
                env, "CERTLIFE_KAFKA_CONTROLLER_PORT", 9093 if brokers == 1 else kafka_port + brokers
            ),
            brokers=brokers,
            postgres_port=postgres_port,
            postgres_replica_port=(
                replica.port if replica else _port(env, "CERTLIFE_POSTGRES_REPLICA_PORT", 0) or None
            ),
            postgres_replicated=replica is not None,
            plaintext_port=_port(env, "CERTLIFE_KAFKA_PLAINTEXT_PORT", 0) or None,
        )


def broker_count(text: str) -> int:
    """``CERTLIFE_KAFKA_BROKERS`` / ``--brokers``: 1 (the single broker) or an odd 3..MAX_BROKERS."""
    if not text.isdigit() or int(text) not in (1, *range(3, MAX_BROKERS + 1, 2)):
        raise StackError(
            f"CERTLIFE_KAFKA_BROKERS must be 1, 3 or 5 (a KRaft quorum), got {ascii_shown(text, 40)!r}"
        )
    return int(text)


def _port(env: dict[str, str], name: str, default: int) -> int:
    """A TCP port from ``name`` (unset or empty: ``default``); a bad value is a one-line StackError."""
    text = env.get(name) or str(default)
    if text == "0" and default == 0:
        return 0
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise StackError(f"{name} must be a TCP port (1-65535), got {ascii_shown(text, 40)!r}")
    return int(text)
