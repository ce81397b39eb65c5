"""compose.yaml and the native launcher agree on ports, names and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from certlife.services.infra.stack.settings import KAFKA_VERSION, StackSettings

pytestmark = pytest.mark.unit

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "compose.yaml").read_text())


def test_kafka_matches_launcher_defaults() -> None:
    defaults = StackSettings.from_env({})
    kafka = COMPOSE["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert f"127.0.0.1:{defaults.kafka_port}:{defaults.kafka_port}" in kafka["ports"]
    assert f"PLAINTEXT://{defaults.kafka_bootstrap}" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    for key in (
        "OFFSETS_TOPIC_REPLICATION_FACTOR",
        "TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[f"KAFKA_{key}"] == "1"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"


def test_postgres_matches_launcher_defaults() -> None:
    defaults = StackSettings.from_env({})
    pg = COMPOSE["services"]["postgres"]
    env = pg["environment"]
    assert f"127.0.0.1:{defaults.postgres_port}:5432" in pg["ports"]
    assert (env["POSTGRES_DB"], env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == (
        defaults.postgres_db,
        defaults.postgres_user,
        defaults.postgres_password,
    )
    assert defaults.database_url == "postgresql://certlife:certlife@127.0.0.1:5432/certlife"


def test_services_run_the_same_processes_as_the_main_job() -> None:
    from certlife.services.demo.setup import SERVICES

    services = COMPOSE["services"]
    for name in SERVICES:
        assert services[name]["command"] == ["serve", name]
        env = services[name]["environment"]
        assert env["CERTLIFE_KAFKA_BOOTSTRAP"] == "kafka:19092"
        assert env["CERTLIFE_DATABASE_URL"].endswith("@postgres:5432/certlife")
        # no secret is committed: the passphrase must come from the user's environment
        assert env["CERTLIFE_KEY_PASSPHRASE"].startswith("${CERTLIFE_KEY_PASSPHRASE:?")
    internal = COMPOSE["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "INTERNAL://kafka:19092" in internal
