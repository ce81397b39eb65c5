"""compose.yaml's ``cluster`` profile agrees with ``certctl stack up --brokers 3`` (no Docker engine here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from certlife.services.infra.stack import cluster
from certlife.services.infra.stack.compose import (
    CLUSTER_BOOTSTRAP,
    CLUSTER_MOUNT,
    compose_cluster_layout,
    compose_init,
)
from certlife.services.infra.stack.kafka import broker_properties
from certlife.services.infra.stack.settings import KAFKA_VERSION, StackSettings
from certlife.services.infra.stack.tls import BROKER_DNS

pytestmark = pytest.mark.unit

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "compose.yaml").read_text())
NODES = ("kafka-1", "kafka-2", "kafka-3")


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_the_profile_has_three_nodes_on_the_native_clusters_ports() -> None:
    native = StackSettings.from_env({"CERTLIFE_KAFKA_BROKERS": "3"})
    services = COMPOSE["services"]
    for node, port in zip(NODES, native.client_ports, strict=True):
        spec = services[node]
        assert spec["profiles"] == ["cluster"] and spec["image"] == f"apache/kafka:{KAFKA_VERSION}"
        assert spec["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert spec["volumes"] == [f"stack:{CLUSTER_MOUNT}:ro"]
        assert spec["depends_on"]["stack-init"]["condition"] == "service_completed_successfully"
        props = f"{CLUSTER_MOUNT}/cluster/{node}/server.properties"
        start = spec["command"][0]
        assert (
            f'kafka-storage.sh format --ignore-formatted -t "$$(cat {CLUSTER_MOUNT}/cluster/cluster.id)"'
            in start
        )
        assert start.endswith(f"exec /opt/kafka/bin/kafka-server-start.sh {props}")
        assert f"--bootstrap-server {node}:19092" in spec["healthcheck"]["test"][1]
        assert spec["environment"]["KAFKA_HEAP_OPTS"].startswith("-Xmx512m")
    provision = services["provision-cluster"]
    assert provision["profiles"] == ["cluster"]
    assert provision["command"] == ["stack", "compose-provision", "--dir", "/stack", "--brokers", "3"]
    assert set(provision["depends_on"]) == set(NODES)
    for name in ("kafka", "provision", "postgres", "commands", "relay", "projections"):
        assert "profiles" not in services[name], name  # plain `docker compose up` is unchanged


def test_services_reach_the_cluster_when_told_and_wait_for_its_provisioning() -> None:
    for name in ("commands", "relay", "projections"):
        spec = COMPOSE["services"][name]
        assert spec["environment"]["CERTLIFE_KAFKA_BOOTSTRAP"] == "${CERTLIFE_COMPOSE_KAFKA:-kafka:19092}"
        optional = spec["depends_on"]["provision-cluster"]
        assert optional == {"condition": "service_completed_successfully", "required": False}
    assert CLUSTER_BOOTSTRAP == "kafka-1:19092,kafka-2:19092,kafka-3:19092"
    assert CLUSTER_BOOTSTRAP in COMPOSE_TEXT


COMPOSE_TEXT = (Path(__file__).parents[2] / "compose.yaml").read_text()


def test_compose_nodes_match_the_native_cluster(tmp_path: Path) -> None:
    native = StackSettings.from_env({"CERTLIFE_HOME": str(tmp_path), "CERTLIFE_KAFKA_BROKERS": "3"})
    voters = "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    for node in (1, 2, 3):
        props = _props(broker_properties(compose_cluster_layout(node), "pw"))
        same = _props(broker_properties(cluster.layout(native, node), "pw"))
        assert props["node.id"] == str(node) and props["controller.quorum.voters"] == voters
        assert (
            props["advertised.listeners"] == f"CLIENT://127.0.0.1:{9191 + node},INTERNAL://kafka-{node}:19092"
        )
        assert props["ssl.keystore.location"] == f"{CLUSTER_MOUNT}/tls/broker.pem"
        keep = (
            "replication",
            "min.isr",
            "min.insync",
            "broker.session",
            "authorizer",
            "super.users",
            "auto.create",
        )
        for key, value in same.items():
            if any(k in key for k in keep):
                assert props[key] == value, key


def test_compose_init_writes_the_cluster_files_privately(tmp_path: Path) -> None:
    written = compose_init(tmp_path)
    for name in (
        "cluster/cluster.id",
        "cluster/admin.properties",
        *(f"cluster/{n}/server.properties" for n in NODES),
    ):
        assert name in written and (tmp_path / name).exists(), name
    for node in NODES:
        path = tmp_path / "cluster" / node / "server.properties"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    cluster_id = (tmp_path / "cluster" / "cluster.id").read_text()
    compose_init(tmp_path)
    assert (tmp_path / "cluster" / "cluster.id").read_text() == cluster_id  # kept: the nodes' storage agrees
    assert (
        f"ssl.truststore.location={CLUSTER_MOUNT}/tls/ca.pem"
        in (tmp_path / "cluster/admin.properties").read_text()
    )
    assert {"kafka-1", "kafka-2", "kafka-3"} <= set(BROKER_DNS)  # host name verification between nodes
