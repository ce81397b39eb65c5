"""compose.yaml and the native launcher agree: ports, names, and the same secured Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from certlife.services.infra import principals
from certlife.services.infra.stack.compose import (
    BROKER_CONFIG,
    INTERNAL_BOOTSTRAP,
    compose_admin,
    compose_init,
    compose_layout,
)
from certlife.services.infra.stack.kafka import broker_properties, native_layout
from certlife.services.infra.stack.secrets import secret_path
from certlife.services.infra.stack.settings import KAFKA_VERSION, StackSettings, ca_file

pytestmark = pytest.mark.unit

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "compose.yaml").read_text())


def test_kafka_matches_launcher_defaults() -> None:
    defaults = StackSettings.from_env({})
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert f"127.0.0.1:{defaults.kafka_port}:{defaults.kafka_port}" in kafka["ports"]
    assert f"stack:{BROKER_CONFIG}" in kafka["volumes"]
    assert "environment" not in kafka  # everything is in the generated server.properties
    assert kafka["depends_on"]["stack-init"]["condition"] == "service_completed_successfully"
    assert COMPOSE["services"]["stack-init"]["command"] == ["stack", "compose-init", "--dir", "/stack"]


def test_compose_broker_is_secured_like_the_native_one() -> None:
    props = broker_properties(compose_layout(), "pw")
    assert (
        f"advertised.listeners=CLIENT://{StackSettings.from_env({}).kafka_bootstrap},INTERNAL://{INTERNAL_BOOTSTRAP}"
        in props
    )
    assert "listener.security.protocol.map=CLIENT:SASL_SSL,INTERNAL:SASL_SSL,CONTROLLER:SASL_SSL" in props
    assert "PLAINTEXT" not in props.replace("SASL_SSL", "")
    native = broker_properties(native_layout(StackSettings(home=Path("/x")), Path("/d")), "pw")
    same = (
        "authorizer.class.name=",
        "allow.everyone",
        "super.users=",
        "auto.create",
        "connections.max.reauth",
    )
    for key in same:
        pick = [line for line in props.splitlines() if line.startswith(key)]
        assert pick and pick == [line for line in native.splitlines() if line.startswith(key)], key
    assert f"ssl.keystore.location={BROKER_CONFIG}/tls/broker.pem" in props


def test_compose_init_writes_private_files_and_the_admin_can_be_built(tmp_path: Path) -> None:
    written = compose_init(tmp_path)
    for name in written:
        assert (tmp_path / name).exists(), name
    for private in ("secrets/kafka/admin", "server.properties", "admin.properties", "tls/broker.pem"):
        assert oct((tmp_path / private).stat().st_mode & 0o777) == "0o600", private
    admin = compose_admin(tmp_path)
    assert admin.mechanism == "PLAIN" and admin.bootstrap == INTERNAL_BOOTSTRAP
    assert admin.password is not None and admin.password.reveal() not in repr(admin)
    assert compose_init(tmp_path) == written  # idempotent: the CA and password are kept
    assert (tmp_path / "secrets/kafka/admin").read_text().strip() == admin.password.reveal()


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


def test_services_run_as_their_own_principals() -> None:
    from certlife.services.demo.setup import SERVICES

    services = COMPOSE["services"]
    assert services["provision"]["command"] == ["stack", "compose-provision", "--dir", "/stack"]
    for name in SERVICES:
        assert services[name]["command"] == ["serve", name]
        env = services[name]["environment"]
        user = principals.service(name).user
        # the single broker unless CERTLIFE_COMPOSE_KAFKA names the cluster profile's (test_compose_cluster.py)
        assert env["CERTLIFE_KAFKA_BOOTSTRAP"] == "${CERTLIFE_COMPOSE_KAFKA:-" + INTERNAL_BOOTSTRAP + "}"
        assert env["CERTLIFE_KAFKA_USERNAME"] == user
        assert env["CERTLIFE_KAFKA_PASSWORD_FILE"] == str(secret_path(Path("/stack"), "kafka", user))
        assert env["CERTLIFE_KAFKA_CA_FILE"] == str(ca_file(Path("/stack")))
        assert "CERTLIFE_KAFKA_PASSWORD" not in env and "CERTLIFE_KAFKA_SECURITY" not in env
        assert env["CERTLIFE_DATABASE_URL"].endswith("@postgres:5432/certlife")
        # no secret is committed: the passphrase must come from the user's environment
        assert env["CERTLIFE_KEY_PASSPHRASE"].startswith("${CERTLIFE_KEY_PASSPHRASE:?")
        assert services[name]["depends_on"]["provision"]["condition"] == "service_completed_successfully"
