"""One typed ``Settings`` per process: every variable registered, documented, parsed once, secrets hidden."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from certlife.projections.config import ProjectionConfig
from certlife.services import bootstrap
from certlife.services.infra.settings import (
    VARIABLE,
    VARIABLES,
    KeySettings,
    ProjectionSettings,
    RelaySettings,
    Secret,
    Settings,
    SettingsError,
    configuration_table,
)
from certlife.services.infra.stack.settings import StackSettings
from certlife.services.relay.keystore import KeyStore

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("domain", "contracts", "projections", "services", "bench")
#: A variable's name; ``CERTLIFE_PROJECTION_*`` (a family, in prose) is none.
NAME = re.compile(r"CERTLIFE_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_*])")

#: A value for every variable, none of them its default.
CUSTOM = {
    "CERTLIFE_HOME": "/srv/certlife-home",
    "CERTLIFE_GROUP_INSTANCE_ID": "host-7-projections",
    "CERTLIFE_KAFKA_BOOTSTRAP": "kafka.example.internal:9092",
    "CERTLIFE_DATABASE_URL": "postgresql://app:db-secret-pw@db.example.internal:6543/certs",
    "CERTLIFE_KAFKA_PORT": "19092",
    "CERTLIFE_KAFKA_CONTROLLER_PORT": "19093",
    "CERTLIFE_POSTGRES_PORT": "15432",
    "CERTLIFE_DB_SCHEMA": "tenant_a",
    "CERTLIFE_TOPIC_PREFIX": "staging.",
    "CERTLIFE_ISSUER": "cqc.example",
    "CERTLIFE_ORIGIN": "cqc.example/log",
    "CERTLIFE_KEYS_DIR": "/srv/keys",
    "CERTLIFE_KEY_PASSPHRASE": "hunter2-do-not-print",
    "CERTLIFE_KEY_PASSPHRASE_FILE": "/run/secrets/passphrase",
    "CERTLIFE_RECORD_KEY_ID": "0123456789abcdef",
    "CERTLIFE_BATCH_MAX_RECORDS": "40",
    "CERTLIFE_BATCH_TIMEOUT_MS": "7",
    "CERTLIFE_RELAY_BATCH": "200",
    "CERTLIFE_CHECKPOINT_EVERY": "500",
    "CERTLIFE_CHECKPOINT_INTERVAL": "0.5",
    "CERTLIFE_POLL_INTERVAL": "0.25",
    "CERTLIFE_PROJECTION_BATCH": "150",
    "CERTLIFE_PROJECTION_BATCH_TIMEOUT_MS": "30",
    "CERTLIFE_PROJECTION_CRASH_IN_BATCH": "3",
}


def _sources() -> list[Path]:
    return [path for folder in SCANNED for path in sorted((ROOT / folder).rglob("*.py"))]


def _registry_arguments(tree: ast.AST) -> set[int]:
    """ids of the name constants inside ``Variable(...)`` calls: the registry, not a read."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Variable" and node.args:
            out.add(id(node.args[0]))
    return out


def _scan() -> tuple[dict[str, list[str]], set[str], list[str]]:
    """Names mentioned in any string literal, names read (a literal equal to the name), dynamic reads."""
    mentioned: dict[str, list[str]] = {}
    read: set[str] = set()
    dynamic: list[str] = []
    for path in _sources():
        tree = ast.parse(path.read_text(), str(path))
        registry = _registry_arguments(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            for name in NAME.findall(node.value):
                mentioned.setdefault(name, []).append(where)
            if NAME.fullmatch(node.value) and id(node) not in registry:
                read.add(node.value)
            if node.value.endswith("CERTLIFE_"):
                dynamic.append(where)  # a prefix scan or f"CERTLIFE_{...}": a name no table can list
    return mentioned, read, dynamic


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Configuration\n")
    return text[start : text.index("\n## ", start + 1)]


def _readme_names() -> list[str]:
    return [m.group(1) for m in re.finditer(r"^\| `(CERTLIFE_[A-Z0-9_]+)` \|", _readme_section(), re.M)]


# --- one table ---------------------------------------------------------------------------------


def test_every_variable_the_code_mentions_is_in_the_readme_table() -> None:
    mentioned, _, _ = _scan()
    documented = set(_readme_names())
    missing = {name: places for name, places in mentioned.items() if name not in documented}
    assert not missing, "CERTLIFE_* variables in code but not in README's configuration table: " + "; ".join(
        f"{name} ({', '.join(places[:3])})" for name, places in sorted(missing.items())
    )


def test_every_readme_row_is_read_by_some_code() -> None:
    _, read, _ = _scan()
    unread = sorted(set(_readme_names()) - read)
    assert not unread, f"README lists variables no code reads: {unread}"


def test_no_variable_is_read_by_a_computed_name() -> None:
    _, _, dynamic = _scan()
    assert not dynamic, f"CERTLIFE_* names built at run time (the table cannot list them): {dynamic}"


def test_the_readme_table_is_the_registry() -> None:
    names = [v.name for v in VARIABLES]
    assert len(names) == len(set(names)), "a variable is registered twice"
    assert _readme_names() == names
    assert configuration_table() in _readme_section(), (
        "README's configuration table differs from the registry; paste this:\n" + configuration_table()
    )


def test_the_scan_sees_reads_and_mentions() -> None:
    """The scan itself: it finds reads in other modules, and skips the registry's own entries."""
    mentioned, read, _ = _scan()
    assert "CERTLIFE_KAFKA_PORT" in read  # read by services/infra/stack/settings.py
    assert any("stack/settings.py" in place for place in mentioned["CERTLIFE_HOME"])
    tree = ast.parse('Variable("CERTLIFE_X", None, "m")\nenv.get("CERTLIFE_Y")')
    assert len(_registry_arguments(tree)) == 1


# --- parsing -----------------------------------------------------------------------------------


def test_from_env_parses_every_typed_field() -> None:
    settings = Settings.from_env(CUSTOM)
    assert (settings.kafka_bootstrap, settings.database_url) == (
        CUSTOM["CERTLIFE_KAFKA_BOOTSTRAP"],
        CUSTOM["CERTLIFE_DATABASE_URL"],
    )
    assert (settings.db_schema, settings.topic_prefix) == ("tenant_a", "staging.")
    assert (settings.issuer, settings.origin) == ("cqc.example", "cqc.example/log")
    assert (settings.batch_max_records, settings.batch_timeout_ms) == (40, 7)
    assert settings.keys == KeySettings(
        directory=Path("/srv/keys"),
        passphrase=Secret("hunter2-do-not-print"),
        passphrase_file=Path("/run/secrets/passphrase"),
        record_key_id="0123456789abcdef",
    )
    assert settings.relay == RelaySettings(
        batch_size=200, checkpoint_every=500, checkpoint_interval=0.5, poll_interval=0.25
    )
    assert settings.projections == ProjectionSettings(
        batch_max_records=150, batch_timeout_ms=30, crash_in_batch=3
    )


def test_defaults_come_from_the_registry_and_the_local_stack(tmp_path: Path) -> None:
    settings = Settings.from_env({"CERTLIFE_HOME": str(tmp_path), "CERTLIFE_POSTGRES_PORT": "15432"})
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.database_url == "postgresql://certlife:certlife@127.0.0.1:15432/certlife"
    assert (settings.db_schema, settings.topic_prefix, settings.issuer, settings.origin) == (
        "public",
        "",
        "certlife.example",
        "certlife.example/log",
    )
    assert (settings.batch_max_records, settings.batch_timeout_ms) == (2000, 10)
    assert settings.keys == KeySettings(directory=tmp_path / "keys")
    assert settings.relay == RelaySettings(
        batch_size=1000, checkpoint_every=1000, checkpoint_interval=5.0, poll_interval=1.0
    )
    assert settings.projections == ProjectionSettings(
        batch_max_records=4000, batch_timeout_ms=10, crash_in_batch=0
    )


def test_direct_construction_has_the_same_defaults_as_from_env() -> None:
    parsed = Settings.from_env({})
    built = Settings(kafka=parsed.kafka, database_url=parsed.database_url)
    assert built == parsed


def test_empty_values_count_as_unset() -> None:
    assert Settings.from_env(dict.fromkeys(VARIABLE, "")) == Settings.from_env({})


def test_the_stack_launcher_agrees_with_the_registry() -> None:
    stack = StackSettings.from_env({})
    assert stack.home == Path(VARIABLE["CERTLIFE_HOME"].default or "").expanduser()
    assert str(stack.kafka_port) == VARIABLE["CERTLIFE_KAFKA_PORT"].default
    assert str(stack.controller_port) == VARIABLE["CERTLIFE_KAFKA_CONTROLLER_PORT"].default
    assert str(stack.postgres_port) == VARIABLE["CERTLIFE_POSTGRES_PORT"].default


BAD = [
    ("CERTLIFE_RELAY_BATCH", "x", "CERTLIFE_RELAY_BATCH must be a positive integer, got 'x'"),
    ("CERTLIFE_RELAY_BATCH", "0", "CERTLIFE_RELAY_BATCH must be a positive integer, got '0'"),
    ("CERTLIFE_CHECKPOINT_EVERY", "-5", "CERTLIFE_CHECKPOINT_EVERY must be a positive integer, got '-5'"),
    ("CERTLIFE_BATCH_MAX_RECORDS", "1e3", "CERTLIFE_BATCH_MAX_RECORDS must be a positive integer, got '1e3'"),
    ("CERTLIFE_PROJECTION_BATCH", "١٢", "CERTLIFE_PROJECTION_BATCH must be a positive integer, got '١٢'"),
    (
        "CERTLIFE_BATCH_TIMEOUT_MS",
        "-1",
        "CERTLIFE_BATCH_TIMEOUT_MS must be a non-negative integer, got '-1'",
    ),
    (
        "CERTLIFE_PROJECTION_BATCH_TIMEOUT_MS",
        "fast",
        "CERTLIFE_PROJECTION_BATCH_TIMEOUT_MS must be a non-negative integer, got 'fast'",
    ),
    (
        "CERTLIFE_PROJECTION_CRASH_IN_BATCH",
        "yes",
        "CERTLIFE_PROJECTION_CRASH_IN_BATCH must be a non-negative integer, got 'yes'",
    ),
    (
        "CERTLIFE_CHECKPOINT_INTERVAL",
        "5s",
        "CERTLIFE_CHECKPOINT_INTERVAL must be a positive number of seconds, got '5s'",
    ),
    ("CERTLIFE_POLL_INTERVAL", "0", "CERTLIFE_POLL_INTERVAL must be a positive number of seconds, got '0'"),
    (
        "CERTLIFE_POLL_INTERVAL",
        "nan",
        "CERTLIFE_POLL_INTERVAL must be a positive number of seconds, got 'nan'",
    ),
    ("CERTLIFE_KAFKA_PORT", "kafka", "CERTLIFE_KAFKA_PORT must be a port number (1-65535), got 'kafka'"),
    (
        "CERTLIFE_POSTGRES_PORT",
        "70000",
        "CERTLIFE_POSTGRES_PORT must be a port number (1-65535), got '70000'",
    ),
    (
        "CERTLIFE_KAFKA_CONTROLLER_PORT",
        "0",
        "CERTLIFE_KAFKA_CONTROLLER_PORT must be a port number (1-65535), got '0'",
    ),
    ("CERTLIFE_RELAY_BATCH", "1\n2", "CERTLIFE_RELAY_BATCH must be a positive integer, got '1\\n2'"),
    (
        "CERTLIFE_CHECKPOINT_EVERY",
        "9" * 5000,
        "CERTLIFE_CHECKPOINT_EVERY must be a positive integer, got '" + "9" * 40 + "...'",
    ),
    (
        "CERTLIFE_RELAY_BATCH",
        "x" * 60,
        "CERTLIFE_RELAY_BATCH must be a positive integer, got '" + "x" * 40 + "...'",
    ),
    (
        "CERTLIFE_KAFKA_COMPRESSION",
        "brotli",
        "CERTLIFE_KAFKA_COMPRESSION must be one of zstd, lz4, gzip, none, got 'brotli'",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert str(error.value) == message
    assert "\n" not in str(error.value)


def test_a_bad_database_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError, match="CERTLIFE_DATABASE_URL must be a postgresql://") as error:
        Settings.from_env({"CERTLIFE_DATABASE_URL": "mysql://root:db-secret-pw@db/certs"})
    assert "db-secret-pw" not in str(error.value)


def test_a_bad_value_stops_a_cli_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "CERTLIFE_HOME": str(tmp_path), "CERTLIFE_RELAY_BATCH": "x"}
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "relay"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == "certctl: error: CERTLIFE_RELAY_BATCH must be a positive integer, got 'x'\n"


# --- secrets -----------------------------------------------------------------------------------


def test_no_secret_in_any_repr() -> None:
    settings = Settings.from_env(CUSTOM)
    config = bootstrap.projection_config(settings)
    for obj in (settings, settings.keys, settings.keys.passphrase, config):
        for text in (repr(obj), str(obj)):
            assert "hunter2-do-not-print" not in text
            assert "db-secret-pw" not in text
    assert "postgresql://app:***@db.example.internal:6543/certs" in repr(settings)
    assert settings.keys.passphrase is not None
    assert settings.keys.passphrase.reveal() == "hunter2-do-not-print"


# --- the composition root reads the typed fields -----------------------------------------------


def test_projection_config_sets_every_field_from_settings() -> None:
    settings = Settings.from_env(CUSTOM)
    config = bootstrap.projection_config(settings)
    expected = {
        "kafka_bootstrap": settings.kafka_bootstrap,
        "database_url": settings.database_url,
        "db_schema": "tenant_a",
        "issuer": "cqc.example",
        "topic_prefix": "staging.",
        "batch_max_records": 150,
        "batch_timeout_ms": 30,
        "crash_in_batch": 3,
        "group_instance_id": "host-7-projections",
    }
    assert {f.name: getattr(config, f.name) for f in fields(ProjectionConfig)} == expected


def test_projection_config_defaults_equal_the_registry_defaults() -> None:
    settings = Settings.from_env({})
    assert bootstrap.projection_config(settings) == ProjectionConfig(
        settings.kafka_bootstrap, settings.database_url
    )


def test_relay_options_are_the_relay_settings() -> None:
    options = bootstrap.relay_options(Settings.from_env(CUSTOM))
    assert vars(options) == {
        "batch_size": 200,
        "checkpoint_every": 500,
        "checkpoint_interval": 0.5,
        "poll_interval": 0.25,
        "pipeline": 8,  # not settings: the loop's structure
        "build_in_process": True,
    }


def test_the_keystore_uses_the_key_settings(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("from-the-file\n")
    env = {"CERTLIFE_KEYS_DIR": str(tmp_path / "k"), "CERTLIFE_KEY_PASSPHRASE_FILE": str(secret)}
    store = bootstrap.build_keystore(Settings.from_env(env))
    assert store.directory == tmp_path / "k"
    kid = store.generate_record_key()
    assert KeyStore(tmp_path / "k", b"from-the-file").record_key(kid)
    default = bootstrap.build_keystore(
        Settings.from_env({"CERTLIFE_HOME": str(tmp_path)}), need_passphrase=False
    )
    assert default.directory == tmp_path / "keys"


def test_the_relay_signs_record_zero_with_the_configured_key(tmp_path: Path) -> None:
    from certlife.services.relay.keys import initial_key

    keystore = KeyStore(tmp_path, b"pw")
    first, second = sorted(keystore.generate_record_key() for _ in range(2))
    recorded: list[Any] = []

    class Store:
        async def record_key_history(self, done: Any, keys: Any) -> None:
            recorded.extend(keys)

    store: Any = Store()

    def relay(env: dict[str, str]) -> Any:
        return SimpleNamespace(settings=Settings.from_env(env), keystore=keystore)

    assert asyncio.run(initial_key(relay({"CERTLIFE_RECORD_KEY_ID": second}), store)) == second
    assert recorded[0][0] == second
    oldest = keystore.record_key_ids()[0]
    assert asyncio.run(initial_key(relay({}), store)) == oldest
    assert {first, second} == set(keystore.record_key_ids())


def test_a_passphrase_keeps_the_bytes_the_environment_held() -> None:
    from certlife.services.relay.keystore import read_passphrase

    keys = Settings.from_env({"CERTLIFE_KEY_PASSPHRASE": "pass\udcff"}).keys  # os.environ's form of b"\xff"
    assert read_passphrase(keys) == b"pass\xff"


@pytest.mark.parametrize(
    ("value", "codec"), [("", "zstd"), ("LZ4", "lz4"), (" gzip ", "gzip"), ("none", None)]
)
def test_kafka_compression_names_an_aiokafka_codec_or_none(value: str, codec: str | None) -> None:
    env = {"CERTLIFE_KAFKA_COMPRESSION": value} if value else {}
    settings = Settings.from_env(env)
    assert settings.kafka_compression == codec
    from certlife.services.bootstrap import kafka_connector

    assert kafka_connector(settings).publisher("t").compression == codec
