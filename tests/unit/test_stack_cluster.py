"""``--brokers 3``: the cluster's settings, broker properties, replication and acks=all, without a broker."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certlife.services.infra.connections import Kafka
from certlife.services.infra.kafka_access import KafkaAccess
from certlife.services.infra.settings import Settings
from certlife.services.infra.stack import cluster
from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.kafka import broker_properties, native_layout
from certlife.services.infra.stack.settings import StackSettings
from certlife.services.infra.topics import TopicSpec, _new_topic, min_insync, replicas_for

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_three_brokers_have_their_own_ports_and_folder_and_share_the_ca(tmp_path: Path) -> None:
    single = StackSettings.from_env({"CERTLIFE_HOME": str(tmp_path)})
    three = StackSettings.from_env({"CERTLIFE_HOME": str(tmp_path), "CERTLIFE_KAFKA_BROKERS": "3"})
    assert (single.kafka_bootstrap, single.state, single.replication_factor) == (
        "127.0.0.1:9092",
        tmp_path / "stack",
        1,
    )
    assert three.kafka_bootstrap == "127.0.0.1:9192,127.0.0.1:9193,127.0.0.1:9194"
    assert three.controller_ports == [9195, 9196, 9197]
    assert three.state == tmp_path / "stack-cluster-9192" != single.state
    assert three.ca_file == single.ca_file  # one CA for every local stack
    assert three.shared_state == single.state  # PostgreSQL's marker and role passwords
    assert three.replication_factor == 3 and three.database_url == single.database_url
    moved = StackSettings.from_env({"CERTLIFE_KAFKA_BROKERS": "3", "CERTLIFE_KAFKA_PORT": "9392"})
    assert moved.client_ports == [9392, 9393, 9394] and moved.controller_ports == [9395, 9396, 9397]
    assert StackSettings.from_env(three.selection_env()) == three


@pytest.mark.parametrize("value", ["2", "4", "0", "x", "7"])
def test_a_bad_broker_count_is_one_line(value: str) -> None:
    with pytest.raises(StackError, match=r"^CERTLIFE_KAFKA_BROKERS must be 1, 3 or 5"):
        StackSettings.from_env({"CERTLIFE_KAFKA_BROKERS": value})


def test_the_cli_refuses_two_brokers_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "stack", "status", "--brokers", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "CERTLIFE_HOME": str(tmp_path)},
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "certctl: error: CERTLIFE_KAFKA_BROKERS must be 1, 3 or 5 (a KRaft quorum), got '2'"
    ]


def test_status_of_a_cluster_never_started(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "stack", "status", "--brokers", "3"],
        capture_output=True,
        text=True,
        env={**os.environ, "CERTLIFE_HOME": str(tmp_path), "CERTLIFE_KAFKA_PORT": "9892"},
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == ["kafka-1: stopped", "kafka-2: stopped", "kafka-3: stopped"]


def test_each_node_is_a_voter_secured_like_the_single_broker(tmp_path: Path) -> None:
    settings = StackSettings.from_env({"CERTLIFE_HOME": str(tmp_path), "CERTLIFE_KAFKA_BROKERS": "3"})
    single = _props(broker_properties(native_layout(StackSettings(home=tmp_path), tmp_path / "d"), "pw"))
    voters = "1@127.0.0.1:9195,2@127.0.0.1:9196,3@127.0.0.1:9197"
    for node in (1, 2, 3):
        props = _props(broker_properties(cluster.layout(settings, node), "pw"))
        assert props["node.id"] == str(node) and props["controller.quorum.voters"] == voters
        assert props["listeners"] == f"CLIENT://127.0.0.1:{9191 + node},CONTROLLER://127.0.0.1:{9194 + node}"
        assert props["ssl.truststore.location"] == str(settings.ca_file)
        assert props["log.dirs"] == str(settings.state / f"kafka-{node}" / "data")
        for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
            assert (props[key], single[key]) == ("3", "1")
        assert (props["transaction.state.log.min.isr"], single["transaction.state.log.min.isr"]) == ("2", "1")
        assert (props["min.insync.replicas"], props["default.replication.factor"]) == ("2", "3")
        assert props["broker.session.timeout.ms"] == "4000"
        secured = ("sasl.", "listener.name.", "ssl.", "authorizer", "allow.", "super.", "auto.")
        for key, value in single.items():
            if key.startswith(secured) and key != "ssl.keystore.location":
                assert props[key] == value, key
    assert "min.insync.replicas" not in single and "broker.session.timeout.ms" not in single


def test_topics_get_three_replicas_and_min_isr_two_on_a_cluster() -> None:
    assert [replicas_for(n) for n in (1, 2, 3, 5)] == [1, 2, 3, 3]
    assert [min_insync(r) for r in (1, 2, 3)] == [1, 1, 2]
    spec = TopicSpec("certlife.log.v1", 1, {"retention.ms": "-1"})
    single, three = _new_topic(spec, 1), _new_topic(spec, 3)
    assert (single.replication_factor, single.topic_configs) == (1, {"retention.ms": "-1"})
    assert three.replication_factor == 3
    assert three.topic_configs == {"retention.ms": "-1", "min.insync.replicas": "2"}


async def test_producers_wait_for_all_in_sync_replicas() -> None:
    kafka = Kafka(KafkaAccess("127.0.0.1:1,127.0.0.1:2", plaintext=True))
    plain = kafka.producer()
    publisher = kafka.publisher("t")
    opened: dict[str, object] = {}
    publisher._open_producer = lambda **options: opened.update(options) or plain  # type: ignore[method-assign]
    try:
        assert plain._sender._acks == -1
        with pytest.raises(Exception):  # noqa: B017 (nothing listens on port 1; only the options matter)
            await asyncio.wait_for(publisher.start(), 5)
        assert opened["acks"] == "all" and opened["enable_idempotence"] is True
    finally:
        await plain.stop()
    broker = kafka.broker(logging.getLogger("t"))
    assert broker._connection_kwargs["acks"] == "all"
    assert broker._connection_kwargs["bootstrap_servers"] == ["127.0.0.1:1", "127.0.0.1:2"]


def test_processes_select_the_cluster_with_one_variable(tmp_path: Path) -> None:
    """CERTLIFE_KAFKA_BROKERS=3: bootstrap list, CA and a service's password file come from the cluster."""
    env = {"CERTLIFE_HOME": str(tmp_path), "CERTLIFE_KAFKA_BROKERS": "3"}
    three = StackSettings.from_env(env)
    secret = three.state / "secrets" / "kafka" / "certlife-relay"
    secret.parent.mkdir(parents=True)
    secret.write_text("relay-cluster-password")
    access = Settings.from_env(env, role="relay").kafka
    assert access.bootstrap == three.kafka_bootstrap and access.username == "certlife-relay"
    assert access.password is not None and access.password.reveal() == "relay-cluster-password"
    admin = Settings.from_env(
        {**env, "CERTLIFE_KAFKA_USERNAME": "admin", "CERTLIFE_KAFKA_PASSWORD": "x"}
    ).kafka
    assert admin.mechanism == "PLAIN"  # the launcher's admin, as on the single broker
    one_node = {**env, "CERTLIFE_KAFKA_BOOTSTRAP": "127.0.0.1:9193", "CERTLIFE_KAFKA_USERNAME": "admin"}
    assert Settings.from_env({**one_node, "CERTLIFE_KAFKA_PASSWORD": "x"}).kafka.mechanism == "PLAIN"
    other = {**one_node, "CERTLIFE_KAFKA_BOOTSTRAP": "kafka.example:9093", "CERTLIFE_KAFKA_PASSWORD": "x"}
    assert Settings.from_env(other).kafka.mechanism == "SCRAM-SHA-512"


def test_kafka_sources_take_the_bootstrap_list() -> None:
    from certlife.services.partner.inputs import SourceError
    from certlife.services.partner.kafka_source import parse_url

    three = StackSettings.from_env({"CERTLIFE_KAFKA_BROKERS": "3"}).kafka_bootstrap
    assert parse_url(f"kafka://{three}?prefix=demo.") == (three, "demo.")
    assert parse_url("kafka://127.0.0.1:9092") == ("127.0.0.1:9092", "")
    for bad in ("kafka://h:1,", "kafka://h:1,h", "kafka://h:1,:2", "kafka://h:99999,h:1"):
        with pytest.raises(SourceError, match="expected kafka://HOST:PORT"):
            parse_url(bad)


def test_the_active_controller_is_read_from_the_running_nodes_quorum_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = StackSettings.from_env({"CERTLIFE_HOME": str(tmp_path), "CERTLIFE_KAFKA_BROKERS": "3"})
    states = {1: (9, 3), 2: (10, 2), 3: (10, 2)}  # node 1 has not heard of epoch 10 yet
    for node, (epoch, leader) in states.items():
        folder = cluster.node_home(settings, node) / "data" / "__cluster_metadata-0"
        folder.mkdir(parents=True)
        (folder / "quorum-state").write_text(f'{{"leaderId":{leader},"leaderEpoch":{epoch},"votedId":-1}}')
    monkeypatch.setattr(cluster, "running", lambda s: [1, 2, 3])
    assert cluster.active_controller(settings) == 2
    monkeypatch.setattr(cluster, "running", lambda s: [1])
    assert cluster.active_controller(settings) == 3
    monkeypatch.setattr(cluster, "running", lambda s: [])
    assert cluster.active_controller(settings) is None


def test_a_taken_port_stops_the_cluster_before_anything_starts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "certlife.services.cli.certctl", "stack", "up", "--brokers", "3"],
            capture_output=True,
            text=True,
            env={**os.environ, "CERTLIFE_HOME": str(tmp_path), "CERTLIFE_KAFKA_PORT": str(port)},
            cwd=ROOT,
            timeout=60,
        )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"certctl: error: port {port} is already in use by another process: stop it, or choose other "
        "ports with CERTLIFE_KAFKA_PORT / CERTLIFE_KAFKA_CONTROLLER_PORT"
    ]
    assert not (tmp_path / "stack").exists()  # PostgreSQL was not touched
