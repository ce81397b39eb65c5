"""compose.yaml's Kafka, secured like the native stack: files for the broker, principals for the services.

``certctl stack compose-init DIR`` (the one-shot ``stack-init`` service) writes
into the shared ``stack`` volume: the CA and the broker certificate (for
``kafka``, ``localhost``, ``127.0.0.1``), the admin password (0600), the
broker's ``server.properties`` (read by the apache/kafka image from
``/mnt/shared/config``) and ``admin.properties`` for its health check.
``certctl stack compose-provision DIR`` (the ``provision`` service, after the
broker is healthy) creates the topics and the three service principals, whose
passwords it keeps in the volume for the services; it runs at every ``compose
up``, so a broker restart never leaves a service without its credential.

The ``cluster`` profile (``docker compose --profile cluster up``) adds three
combined controller+broker nodes ``kafka-1..3`` (host ports 9192-9194, like
``certctl stack up --brokers 3``), configured from ``cluster/`` in the same
volume (same CA, same admin, same service passwords), and ``provision-cluster``;
a compose variable set to :data:`CLUSTER_BOOTSTRAP` points the services at it
(compose.yaml's header says which).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from certlife.services.infra.fileio import write_file_atomic
from certlife.services.infra.kafka_access import KafkaAccess
from certlife.services.infra.stack.cluster import FAILURE_DETECTION
from certlife.services.infra.stack.credentials import provision_services
from certlife.services.infra.stack.kafka import ADMIN, CLIENT, Layout, admin_at, broker_properties
from certlife.services.infra.stack.secrets import ensure_secret
from certlife.services.infra.stack.settings import broker_keystore, ca_file
from certlife.services.infra.stack.tls import ensure_tls

#: Where the apache/kafka image reads server.properties (the ``stack`` volume is mounted there).
BROKER_CONFIG = Path("/mnt/shared/config")
#: The listener the containers use (the host uses 127.0.0.1:9092).
INTERNAL = "INTERNAL"
INTERNAL_BOOTSTRAP = "kafka:19092"
#: The ``cluster`` profile's nodes, their first host port, and the services' bootstrap list for them.
CLUSTER_NODES = 3
CLUSTER_HOST_PORT = 9192
CLUSTER_BOOTSTRAP = ",".join(f"kafka-{n}:19092" for n in range(1, CLUSTER_NODES + 1))
#: Where the cluster's nodes mount the ``stack`` volume (their files: ``cluster/kafka-N/``).
CLUSTER_MOUNT = Path("/stack")


def compose_layout(config: Path = BROKER_CONFIG) -> Layout:
    """Listeners inside the compose network: CLIENT for the host, INTERNAL for the containers."""
    return Layout(
        ((CLIENT, "0.0.0.0:9092", "127.0.0.1:9092"), (INTERNAL, "0.0.0.0:19092", INTERNAL_BOOTSTRAP)),
        "localhost:9093",
        broker_keystore(config),
        ca_file(config),
        Path("/tmp/kraft-combined-logs"),
    )


def compose_cluster_layout(node: int) -> Layout:
    """Node ``node`` of the ``cluster`` profile: CLIENT for the host, INTERNAL for the containers."""
    host = f"{CLUSTER_HOST_PORT + node - 1}"
    voters = ",".join(f"{n}@kafka-{n}:9093" for n in range(1, CLUSTER_NODES + 1))
    return Layout(
        (
            (CLIENT, f"0.0.0.0:{host}", f"127.0.0.1:{host}"),
            (INTERNAL, "0.0.0.0:19092", f"kafka-{node}:19092"),
        ),
        f"kafka-{node}:9093",
        broker_keystore(CLUSTER_MOUNT),
        ca_file(CLUSTER_MOUNT),
        Path("/tmp/kraft-combined-logs"),
        node_id=node,
        voters=voters,
        replication=3,
        extra=FAILURE_DETECTION,
    )


def _admin_properties(password: str, ca: Path) -> bytes:
    """The admin's client properties (the health checks' ``--command-config``)."""
    jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{ADMIN}" password="{password}";'
    )
    return (
        "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
        f"sasl.jaas.config={jaas}\nssl.truststore.type=PEM\nssl.truststore.location={ca}\n"
    ).encode()


def compose_init(directory: Path) -> list[str]:
    """Write the broker's TLS files, the admin password and its properties into ``directory``,
    and the ``cluster`` profile's node properties and cluster id under ``directory/cluster``."""
    ensure_tls(directory)
    password = ensure_secret(directory, "kafka", ADMIN)
    write_file_atomic(
        directory / "server.properties", broker_properties(compose_layout(), password).encode(), mode=0o600
    )
    write_file_atomic(
        directory / "admin.properties", _admin_properties(password, ca_file(BROKER_CONFIG)), mode=0o600
    )
    written = ["tls/ca.pem", "tls/broker.pem", "secrets/kafka/admin", "server.properties", "admin.properties"]
    folder = directory / "cluster"
    folder.mkdir(exist_ok=True)
    if not (folder / "cluster.id").exists():
        write_file_atomic(folder / "cluster.id", (uuid.uuid4().hex[:22] + "\n").encode())
    write_file_atomic(
        folder / "admin.properties", _admin_properties(password, ca_file(CLUSTER_MOUNT)), mode=0o600
    )
    for node in range(1, CLUSTER_NODES + 1):
        (folder / f"kafka-{node}").mkdir(exist_ok=True)
        text = broker_properties(compose_cluster_layout(node), password)
        write_file_atomic(folder / f"kafka-{node}" / "server.properties", text.encode(), mode=0o600)
    nodes = [f"cluster/kafka-{n}/server.properties" for n in range(1, CLUSTER_NODES + 1)]
    return [*written, "cluster/cluster.id", "cluster/admin.properties", *nodes]


def compose_admin(directory: Path, bootstrap: str = INTERNAL_BOOTSTRAP) -> KafkaAccess:
    """The admin's access from the volume (PLAIN over TLS, like the native stack's)."""
    return admin_at(directory, bootstrap)


def compose_provision(directory: Path, prefix: str = "", bootstrap: str = INTERNAL_BOOTSTRAP) -> list[str]:
    """Topics and the three service principals (passwords kept in ``directory``); their user names."""
    return asyncio.run(provision_services(directory, compose_admin(directory, bootstrap), prefix))
