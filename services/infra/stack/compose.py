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
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from certlife.services.infra.fileio import write_file_atomic
from certlife.services.infra.kafka_access import KafkaAccess
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


def compose_layout(config: Path = BROKER_CONFIG) -> Layout:
    """Listeners inside the compose network: CLIENT for the host, INTERNAL for the containers."""
    return Layout(
        ((CLIENT, "0.0.0.0:9092", "127.0.0.1:9092"), (INTERNAL, "0.0.0.0:19092", INTERNAL_BOOTSTRAP)),
        "localhost:9093",
        broker_keystore(config),
        ca_file(config),
        Path("/tmp/kraft-combined-logs"),
    )


def compose_init(directory: Path) -> list[str]:
    """Write the broker's TLS files, the admin password and its properties into ``directory``."""
    ensure_tls(directory)
    password = ensure_secret(directory, "kafka", ADMIN)
    write_file_atomic(
        directory / "server.properties", broker_properties(compose_layout(), password).encode(), mode=0o600
    )
    jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{ADMIN}" password="{password}";'
    )
    write_file_atomic(
        directory / "admin.properties",
        (
            "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
            f"sasl.jaas.config={jaas}\nssl.truststore.type=PEM\n"
            f"ssl.truststore.location={ca_file(BROKER_CONFIG)}\n"
        ).encode(),
        mode=0o600,
    )
    return ["tls/ca.pem", "tls/broker.pem", "secrets/kafka/admin", "server.properties", "admin.properties"]


def compose_admin(directory: Path, bootstrap: str = INTERNAL_BOOTSTRAP) -> KafkaAccess:
    """The admin's access from the volume (PLAIN over TLS, like the native stack's)."""
    return admin_at(directory, bootstrap)


def compose_provision(directory: Path, prefix: str = "", bootstrap: str = INTERNAL_BOOTSTRAP) -> list[str]:
    """Topics and the three service principals (passwords kept in ``directory``); their user names."""
    return asyncio.run(provision_services(directory, compose_admin(directory, bootstrap), prefix))
