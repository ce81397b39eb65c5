"""Connections are opened by the composition root and handed down, never by the components.

``certlife.services.bootstrap`` reads the endpoints from ``Settings``, builds the
process's connectors (``certlife.services.infra.connections``: ``Postgres`` and
``Kafka``), opens the long-lived PostgreSQL session or pool of each runtime
process (the relay's and the command service's lock sessions, the projections'
pool) and hands connectors and connections down. So the modules of the runtime
packages — ``services/relay``, ``services/commands``, ``services/partner``,
``projections`` and ``services/infra``, plus the two ``certctl`` entry points
that run those processes and the read-model commands (``serve_cmd.py``,
``projections_cmd.py``) — must not:

1. call a client opener: ``asyncpg.connect``/``create_pool``, ``psycopg.connect``
   (or its pools), aiokafka's ``AIOKafkaProducer``/``AIOKafkaConsumer``/
   ``AIOKafkaAdminClient``, faststream's ``KafkaBroker``, or certlife's own
   endpoint-taking factories ``committed_consumer`` and ``ensure_topics``;
2. read a ``database_url`` or ``kafka_bootstrap`` attribute: endpoints travel
   only inside the connectors.

Not scanned: ``services/infra/stack`` (the local stack launcher starts PostgreSQL
and Kafka and probes them, it is not a certlife process) and, outside the listed
folders, the composition root itself, the demo driver and the one-shot ``certctl``
commands.

ALLOWED (rule 1), each for one reason:

- ``services/infra/connections.py``: the connectors; the only place a runtime
  process's clients are constructed from an endpoint.
- ``projections/committed.py``: defines ``committed_consumer``, the one
  read-committed consumer factory (tests/unit/test_committed_consumer.py); it
  takes the endpoint as an argument and is called by the connectors.
- ``services/infra/topics.py``: defines ``ensure_topics(access, specs)``, the
  admin-client helper the Kafka connector calls.
- ``services/partner/mirror_cmd.py``: ``certverify mirror``'s own composition
  root; the partner tool opens the partner's database and Kafka from its command
  line and must not import the services' stack (certlife[mirror]).
- ``services/infra/kafka_admin.py``: the operator's requests that aiokafka's
  admin client lacks (SCRAM credentials, ACLs) and a principal's self-check of
  its grants; each opens an admin connection on the ``KafkaAccess`` it is given.
- ``services/partner/kafka_source.py``: ``certverify``'s ``kafka://HOST:PORT``
  source; the URL on the command line is the endpoint, and the reader runs on an
  event loop of its own thread, where its consumer must be created.

Rule 2 exempts only ``services/infra/settings.py``, which defines the two fields
(and redacts them, and derives eventsourcing's environment for the root).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCANNED_FOLDERS = ("services/relay", "services/commands", "services/partner", "projections", "services/infra")
SCANNED_FILES = ("services/cli/serve_cmd.py", "services/cli/projections_cmd.py")
NOT_SCANNED = ("services/infra/stack",)
ALLOWED = (
    "services/infra/connections.py",
    "projections/committed.py",
    "services/infra/topics.py",
    "services/infra/kafka_admin.py",
    "services/partner/mirror_cmd.py",
    "services/partner/kafka_source.py",
)
SETTINGS = "services/infra/settings.py"
ENDPOINTS = frozenset({"database_url", "kafka_bootstrap"})

#: Openers by the top-level package they come from: (package, last name).
_DRIVER_OPENERS = {
    "asyncpg": {"connect", "create_pool"},
    "psycopg": {"connect"},
    "psycopg2": {"connect"},
    "psycopg_pool": {"ConnectionPool", "AsyncConnectionPool"},
    "aiokafka": {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"},
    "faststream": {"KafkaBroker"},
}
#: certlife's own functions that open a client from an endpoint argument.
_CERTLIFE_OPENERS = {
    "certlife.projections.committed.committed_consumer",
    "certlife.services.infra.topics.ensure_topics",
}


def _scanned() -> list[Path]:
    paths = [p for folder in SCANNED_FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))]
    paths += [ROOT / f for f in SCANNED_FILES]
    return [p for p in paths if not any(p.is_relative_to(ROOT / skip) for skip in NOT_SCANNED)]


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> what it was imported as (``connect`` -> ``asyncpg.connect``), anywhere in the module."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                names[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str:
    """The called name with its import resolved (``pg.connect`` -> ``asyncpg.connect``); "" if not a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([aliases.get(node.id, node.id), *reversed(parts)])


def _is_opener(name: str) -> bool:
    package, _, rest = name.partition(".")
    return name in _CERTLIFE_OPENERS or (
        bool(rest) and name.rsplit(".", 1)[-1] in _DRIVER_OPENERS.get(package, ())
    )


def openers(source: str) -> list[tuple[int, str]]:
    """``(line, resolved name)`` of every call in ``source`` that opens a client from an endpoint."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_opener(name := _dotted(node.func, aliases)):
            found.append((node.lineno, name))
    return sorted(found)


def endpoint_reads(source: str) -> list[tuple[int, str]]:
    """``(line, attribute)`` of every read of a ``database_url`` or ``kafka_bootstrap`` attribute."""
    return [
        (node.lineno, node.attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in ENDPOINTS
    ]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_only_the_allowed_modules_open_clients() -> None:
    found = [
        f"{_rel(path)}:{line}: {name}(...)"
        for path in _scanned()
        if _rel(path) not in ALLOWED
        for line, name in openers(path.read_text())
    ]
    assert found == [], (
        "open connections in certlife.services.bootstrap and hand them down "
        "(or use the connector it handed down):\n" + "\n".join(found)
    )


def test_components_never_read_an_endpoint() -> None:
    found = [
        f"{_rel(path)}:{line}: .{attr}"
        for path in _scanned()
        if _rel(path) != SETTINGS
        for line, attr in endpoint_reads(path.read_text())
    ]
    assert found == [], "endpoints reach components only inside the root's connectors:\n" + "\n".join(found)


def test_every_allowed_module_is_scanned_and_really_opens_a_client() -> None:
    """The allowed list stays short: an entry that no longer opens anything must go."""
    scanned = {_rel(p) for p in _scanned()}
    idle = [path for path in ALLOWED if path not in scanned or not openers((ROOT / path).read_text())]
    assert idle == []
    assert len(scanned) > 60


def test_the_checks_see_openers_and_endpoints() -> None:
    """Both scans are not vacuous: aliases and module-qualified calls are resolved."""
    source = """
import asyncpg as pg
from aiokafka import AIOKafkaProducer
from certlife.projections.committed import committed_consumer
from faststream.kafka import KafkaBroker

async def run(settings, kafka):
    conn = await pg.connect(settings.database_url)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    consumer = committed_consumer("x:1")
    broker = KafkaBroker("x:1")
    await kafka.ensure_topics([])  # through a connector: fine
    return conn.fetchval("SELECT 1")
"""
    assert [name for _, name in openers(source)] == [
        "asyncpg.connect",
        "aiokafka.AIOKafkaProducer",
        "certlife.projections.committed.committed_consumer",
        "faststream.kafka.KafkaBroker",
    ]
    assert sorted(attr for _, attr in endpoint_reads(source)) == ["database_url", "kafka_bootstrap"]


def test_the_root_builds_the_connectors_from_the_settings_and_hides_the_password() -> None:
    from certlife.services import bootstrap
    from certlife.services.infra.settings import Settings

    settings = Settings.from_env(
        {
            "CERTLIFE_DATABASE_URL": "postgresql://app:db-secret-pw@db.example.internal:6543/certs",
            "CERTLIFE_KAFKA_BOOTSTRAP": "kafka.example.internal:9092",
        }
    )
    postgres, kafka = bootstrap.postgres_connector(settings), bootstrap.kafka_connector(settings)
    assert (postgres.dsn, kafka.bootstrap) == (settings.database_url, settings.kafka_bootstrap)
    assert "db-secret-pw" not in repr(postgres) + str(postgres)
