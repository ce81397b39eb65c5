"""certlife's configuration: every ``CERTLIFE_*`` variable, read once by the composition root.

``VARIABLES`` is the one table of variables (name, default, meaning); the
README's configuration table is rendered from it (``configuration_table``) and
``tests/unit/test_settings.py`` fails when the code reads a variable the
table lacks. ``Settings.from_env`` parses and validates each variable once; a
bad value raises ``SettingsError`` (a ``CertlifeError``) with one line naming
the variable, which the CLIs' ``run_guarded`` prints instead of a traceback.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from certlife.domain.errors import CertlifeError
from certlife.services.infra import pgurl
from certlife.services.infra.kafka_access import MECHANISM, PLAINTEXT, SASL_SSL, KafkaAccess
from certlife.services.infra.secret import Secret
from certlife.services.infra.stack.secrets import read_secret
from certlife.services.infra.stack.settings import StackSettings

T = TypeVar("T")


class SettingsError(CertlifeError, code="settings"):
    """A ``CERTLIFE_*`` variable has a value certlife cannot use; the message is one line."""


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, its default (``None``: computed or unset) and meaning."""

    name: str
    default: str | None
    meaning: str
    #: What the README shows as the default, when the raw default says too little.
    shown: str = ""

    @property
    def shown_default(self) -> str:
        """The default as the README's table shows it."""
        if self.shown:
            return self.shown
        if self.default is None:
            return "—"
        return f"`{self.default}`" if self.default else "empty"


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "CERTLIFE_HOME", "~/.cache/certlife", "cache and state: venv, Kafka jars, local stack, demo runs"
    ),
    Variable("CERTLIFE_KAFKA_BOOTSTRAP", None, "Kafka bootstrap servers (`host:port`)", shown="local stack"),
    Variable(
        "CERTLIFE_DATABASE_URL",
        None,
        "PostgreSQL URL (event store, read models); may list servers (`HOST:PORT,HOST:PORT`) with "
        "`?target_session_attrs=read-write`",
        shown="local stack",
    ),
    Variable(
        "CERTLIFE_KAFKA_SECURITY",
        "sasl_ssl",
        "`sasl_ssl` (SCRAM-SHA-512 over TLS) or `plaintext` (unsafe: no TLS, no authentication)",
    ),
    Variable(
        "CERTLIFE_KAFKA_USERNAME",
        None,
        "Kafka principal (SCRAM user)",
        shown="local stack: the process's own principal",
    ),
    Variable("CERTLIFE_KAFKA_PASSWORD", None, "its password (never printed or logged)"),
    Variable(
        "CERTLIFE_KAFKA_PASSWORD_FILE",
        None,
        "file holding the password (used if `CERTLIFE_KAFKA_PASSWORD` is unset)",
        shown="local stack: its secret file",
    ),
    Variable(
        "CERTLIFE_KAFKA_CA_FILE",
        None,
        "PEM CA certificate that signed the broker's certificate",
        shown="local stack CA, else the system's",
    ),
    Variable(
        "CERTLIFE_KAFKA_COMPRESSION",
        "zstd",
        "compression of the record batches the services publish: `zstd`, `lz4`, `gzip` or `none`",
    ),
    Variable("CERTLIFE_KAFKA_PORT", "9092", "local stack: Kafka broker port (SASL_SSL)"),
    Variable(
        "CERTLIFE_KAFKA_PLAINTEXT_PORT",
        None,
        "local stack: also open an unsafe plaintext listener on this port (benchmarks only)",
    ),
    Variable(
        "CERTLIFE_BENCH_PROFILE",
        None,
        "benchmarks: attach `py-spy record` to each measured service process and write its profile "
        "to this folder (`python -m bench.profile FILE` summarises it)",
    ),
    Variable(
        "CERTLIFE_BENCH_CACHE",
        None,
        "benchmarks: folder of the generated logs they reuse (`./dev bench` sets it to "
        "`$CERTLIFE_HOME/bench` for its private stack)",
        shown="`$CERTLIFE_HOME/bench`",
    ),
    Variable("CERTLIFE_KAFKA_CONTROLLER_PORT", "9093", "local stack: Kafka KRaft controller port"),
    Variable(
        "CERTLIFE_KAFKA_BROKERS",
        "1",
        "local stack: 1 (the single broker) or 3 (a KRaft cluster in `$CERTLIFE_HOME/stack-cluster-PORT`: "
        "client ports from `CERTLIFE_KAFKA_PORT`, default 9192, controllers after them); "
        "`certctl stack up --brokers 3` starts it, and this variable makes a process use it",
    ),
    Variable("CERTLIFE_POSTGRES_PORT", "5432", "local stack: PostgreSQL port"),
    Variable(
        "CERTLIFE_POSTGRES_REPLICA_PORT",
        None,
        "local stack: port of the synchronous streaming replica `certctl stack up --pg-replica` creates",
        shown="the PostgreSQL port + 1",
    ),
    Variable("CERTLIFE_DB_SCHEMA", "public", "schema of the event store and read models"),
    Variable("CERTLIFE_TOPIC_PREFIX", "", "prefix for every topic (isolates test deployments)"),
    Variable("CERTLIFE_ISSUER", "certlife.example", "issuer of the certificates"),
    Variable("CERTLIFE_ORIGIN", "certlife.example/log", "origin of the log (checkpoints, records)"),
    Variable(
        "CERTLIFE_KEYS_DIR",
        None,
        "encrypted record, credential (`credential-<keyId>.pem`) and note keys",
        shown="`$CERTLIFE_HOME/keys`",
    ),
    Variable(
        "CERTLIFE_KEY_PASSPHRASE",
        None,
        "key passphrase (never printed or logged); given to the publisher too, it turns on status list "
        "production (signed by the credential key in force, if `CERTLIFE_KEYS_DIR` holds it; commitments "
        "queued as `CERTLIFE_DATABASE_URL`, the relay's role)",
    ),
    Variable(
        "CERTLIFE_KEY_PASSPHRASE_FILE",
        None,
        "file holding the key passphrase (used if `CERTLIFE_KEY_PASSPHRASE` is unset)",
    ),
    Variable(
        "CERTLIFE_RECORD_KEY_ID",
        None,
        "record key that signs record 0 of a new log",
        shown="oldest key on disk",
    ),
    Variable("CERTLIFE_BATCH_MAX_RECORDS", "2000", "command service: commands per batch (one transaction)"),
    Variable(
        "CERTLIFE_BATCH_TIMEOUT_MS",
        "10",
        "command service: idle poll (ms); a batch is whatever has arrived, no wait to fill",
    ),
    Variable("CERTLIFE_RELAY_BATCH", "1000", "relay: stored events signed and published per transaction"),
    Variable("CERTLIFE_CHECKPOINT_EVERY", "1000", "relay: checkpoint after N records (and on shutdown)"),
    Variable("CERTLIFE_CHECKPOINT_INTERVAL", "5", "relay: checkpoint after T seconds (and on shutdown)"),
    Variable("CERTLIFE_POLL_INTERVAL", "1", "relay: longest idle wait (s) before polling the event store"),
    Variable("CERTLIFE_PROJECTION_BATCH", "4000", "projections: records per batch (one transaction)"),
    Variable("CERTLIFE_PROJECTION_BATCH_TIMEOUT_MS", "10", "projections: idle poll (ms), no wait to fill"),
    Variable("CERTLIFE_PROJECTION_CRASH_IN_BATCH", "0", "tests only: exit inside the N-th batch (0: never)"),
    Variable(
        "CERTLIFE_TILES_DIR",
        None,
        "publisher: the log as C2SP tlog-tiles (static files), written as the log grows, and the status "
        "lists (`statuslists/`)",
        shown="`$CERTLIFE_HOME/tiles`",
    ),
    Variable(
        "CERTLIFE_WITNESSES_FILE",
        None,
        "publisher: witnesses asked to cosign each checkpoint (tlog-policy text, `witness NAME VKEY URL` lines)",
        shown="none: no cosigning",
    ),
    Variable(
        "CERTLIFE_METRICS_PORT",
        "0",
        "commands, relay, projections, publisher: port of `/metrics`, `/healthz`, `/readyz` "
        "(0: any free port, announced as `metrics on http://HOST:PORT`; `off`: none)",
    ),
    Variable("CERTLIFE_METRICS_HOST", "127.0.0.1", "address the metrics port listens on"),
    Variable(
        "CERTLIFE_COMMANDS_DATABASE_URL",
        None,
        "`certctl serve all`: the command service's PostgreSQL URL (its own role), instead of CERTLIFE_DATABASE_URL",
        shown="CERTLIFE_DATABASE_URL",
    ),
    Variable(
        "CERTLIFE_RELAY_DATABASE_URL",
        None,
        "`certctl serve all`: the relay's PostgreSQL URL, instead of CERTLIFE_DATABASE_URL",
        shown="CERTLIFE_DATABASE_URL",
    ),
    Variable(
        "CERTLIFE_PROJECTIONS_DATABASE_URL",
        None,
        "`certctl serve all`: the projections' PostgreSQL URL, instead of CERTLIFE_DATABASE_URL",
        shown="CERTLIFE_DATABASE_URL",
    ),
    Variable(
        "CERTLIFE_PUBLISHER_DATABASE_URL",
        None,
        "`certctl serve all`: the publisher's PostgreSQL URL (the relay's role), instead of CERTLIFE_DATABASE_URL",
        shown="CERTLIFE_DATABASE_URL",
    ),
    Variable(
        "CERTLIFE_API_DATABASE_URL",
        None,
        "`certctl serve all`: the API's PostgreSQL URL (a read-only role), instead of CERTLIFE_DATABASE_URL",
        shown="CERTLIFE_DATABASE_URL",
    ),
    Variable(
        "CERTLIFE_GROUP_INSTANCE_ID",
        None,
        "commands, projections: static consumer-group membership id (Kafka KIP-345), unique per process in "
        "its group: a restarted process gets its partitions back at once instead of after the dead one's "
        "session; `certctl serve all` sets HOST-SERVICE",
        shown="none: dynamic membership",
    ),
    Variable("CERTLIFE_API_PORT", "8080", "api: port of the status API and lookup page"),
    Variable("CERTLIFE_API_HOST", "127.0.0.1", "api: address it listens on"),
    Variable("CERTLIFE_API_RATE", "20", "api: requests a second per client (0: no limit)"),
    Variable("CERTLIFE_API_BURST", "40", "api: requests a client may send at once before the rate applies"),
    Variable(
        "CERTLIFE_TRUST_FILE",
        None,
        "api: the published trust file (`certctl keys trust`), served at `/v1/trust.json`",
        shown="`$CERTLIFE_HOME/trust.json`",
    ),
)
VARIABLE: Mapping[str, Variable] = {v.name: v for v in VARIABLES}


def configuration_table() -> str:
    """The README's configuration table, one row per variable of ``VARIABLES``."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{v.name}` | {v.shown_default} | {v.meaning} |" for v in VARIABLES]
    return "\n".join(rows) + "\n"


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "...")


def _text(name: str, raw: str) -> str:
    return raw


def _path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def _integer(name: str, raw: str, minimum: int, what: str) -> int:
    if not re.fullmatch(r"[0-9]{1,18}", raw.strip()) or int(raw) < minimum:
        raise SettingsError(f"{name} must be {what}, got {_shown(raw)}")
    return int(raw)


def _positive(name: str, raw: str) -> int:
    return _integer(name, raw, 1, "a positive integer")


def _count(name: str, raw: str) -> int:
    return _integer(name, raw, 0, "a non-negative integer")


#: ``CERTLIFE_KAFKA_COMPRESSION`` values (``none``: uncompressed).
COMPRESSIONS = ("zstd", "lz4", "gzip", "none")


def _compression(name: str, raw: str) -> str | None:
    codec = raw.strip().lower()
    if codec not in COMPRESSIONS:
        raise SettingsError(f"{name} must be one of {', '.join(COMPRESSIONS)}, got {_shown(raw)}")
    return None if codec == "none" else codec


def _port(name: str, raw: str) -> int:
    port = _integer(name, raw, 1, "a port number (1-65535)")
    if port > 65535:
        raise SettingsError(f"{name} must be a port number (1-65535), got {_shown(raw)}")
    return port


def _metrics_port(name: str, raw: str) -> int | None:
    if raw.strip().lower() == "off":
        return None
    port = _integer(name, raw, 0, "a port number (0-65535) or off")
    if port > 65535:
        raise SettingsError(f"{name} must be a port number (0-65535) or off, got {_shown(raw)}")
    return port


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise SettingsError(f"{name} must be a positive number of seconds, got {_shown(raw)}")
    return value


def _rate(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise SettingsError(f"{name} must be a number of requests a second (0: no limit), got {_shown(raw)}")
    return value


def check_database_url(name: str, raw: str) -> str:
    """``raw`` if it is a PostgreSQL URL, else ``SettingsError`` naming ``name`` (never echoing the URL)."""
    return _database_url(name, raw)


def _database_url(name: str, raw: str) -> str:
    try:
        pgurl.parse(raw)
    except pgurl.DatabaseUrlError as exc:  # never echoes the URL: it may hold a password
        raise SettingsError(f"{name} {exc}") from None
    return raw


def _variable(name: str) -> Variable:
    """The registry entry of ``name``: code reads no variable the table lacks."""
    try:
        return VARIABLE[name]
    except KeyError:
        raise KeyError(f"{name} is read but not in VARIABLES") from None


def _read(env: Mapping[str, str], name: str, parse: Callable[[str, str], T]) -> T:
    """The value of ``name`` (its registry default when unset or empty), parsed."""
    default = _variable(name).default
    if default is None:
        raise KeyError(f"{name} has no default: read it with _optional")
    return parse(name, env.get(name) or default)


def _optional(env: Mapping[str, str], name: str, parse: Callable[[str, str], T]) -> T | None:
    """The value of ``name`` parsed, or None when unset or empty."""
    _variable(name)
    raw = env.get(name)
    return parse(name, raw) if raw else None


def _default(name: str, parse: Callable[[str, str], T]) -> Callable[[], T]:
    """A dataclass default: the registry's default of ``name``, parsed as ``from_env`` does."""
    return lambda: _read({}, name, parse)


def _secret(name: str, raw: str) -> Secret:
    return Secret(raw)


@dataclass(frozen=True)
class KeySettings:
    """Where the keys are and how to unlock them (the passphrase file is read only when needed)."""

    directory: Path = field(default_factory=lambda: _read({}, "CERTLIFE_HOME", _path) / "keys")
    passphrase: Secret | None = None
    passphrase_file: Path | None = None
    #: The key that signs record 0 of a new log; None: the oldest key on disk.
    record_key_id: str | None = None


@dataclass(frozen=True)
class RelaySettings:
    """Tuning of the relay loop."""

    batch_size: int = field(default_factory=_default("CERTLIFE_RELAY_BATCH", _positive))
    checkpoint_every: int = field(default_factory=_default("CERTLIFE_CHECKPOINT_EVERY", _positive))
    checkpoint_interval: float = field(default_factory=_default("CERTLIFE_CHECKPOINT_INTERVAL", _seconds))
    poll_interval: float = field(default_factory=_default("CERTLIFE_POLL_INTERVAL", _seconds))


@dataclass(frozen=True)
class PublisherSettings:
    """Where the publisher writes the tiles and which witnesses it asks."""

    tiles_dir: Path = field(default_factory=lambda: _read({}, "CERTLIFE_HOME", _path) / "tiles")
    #: The operator's witness file; None: the publisher writes tiles only.
    witnesses_file: Path | None = None


@dataclass(frozen=True)
class ApiSettings:
    """Where the status API listens, its per-client rate limit and the trust file it serves."""

    host: str = field(default_factory=_default("CERTLIFE_API_HOST", _text))
    port: int = field(default_factory=_default("CERTLIFE_API_PORT", _port))
    rate: float = field(default_factory=_default("CERTLIFE_API_RATE", _rate))
    burst: int = field(default_factory=_default("CERTLIFE_API_BURST", _positive))
    trust_file: Path = field(default_factory=lambda: _read({}, "CERTLIFE_HOME", _path) / "trust.json")


@dataclass(frozen=True)
class ProjectionSettings:
    """Tuning of the projection process (mapped onto ``ProjectionConfig`` by the composition root)."""

    batch_max_records: int = field(default_factory=_default("CERTLIFE_PROJECTION_BATCH", _positive))
    batch_timeout_ms: int = field(default_factory=_default("CERTLIFE_PROJECTION_BATCH_TIMEOUT_MS", _count))
    #: Fault injection for tests: exit (no commit) inside the N-th batch transaction; 0 never.
    crash_in_batch: int = field(default_factory=_default("CERTLIFE_PROJECTION_CRASH_IN_BATCH", _count))


def redacted_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for reprs and messages)."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return parsed._replace(netloc=f"{user}:***@{netloc[2]}").geturl()


#: The operator's role (certctl, tests): the local stack's admin principal.
ADMIN = "admin"


def local_principal(role: str, prefix: str = "") -> str:
    """The local stack's Kafka principal for ``role`` in the deployment with topic ``prefix``."""
    return "admin" if role == ADMIN else f"{prefix}certlife-{role}"


def _password_file(name: str, raw: str) -> Secret:
    try:
        return Secret(Path(raw).expanduser().read_text().strip())
    except OSError as exc:
        raise SettingsError(f"{name}: cannot read {raw!r} ({exc.strerror})") from None


def kafka_access_from_env(env: Mapping[str, str], stack: StackSettings, principal: str | None) -> KafkaAccess:
    """The Kafka access of ``CERTLIFE_KAFKA_*``; unset credentials: the local stack's ``principal``.

    ``principal`` None: no local default (a partner's tool uses only what it was given).
    """
    bootstrap = _optional(env, "CERTLIFE_KAFKA_BOOTSTRAP", _text) or stack.kafka_bootstrap
    security = _read(env, "CERTLIFE_KAFKA_SECURITY", _text).strip().lower()
    if security not in (SASL_SSL, PLAINTEXT):
        raise SettingsError(f"CERTLIFE_KAFKA_SECURITY must be sasl_ssl or plaintext, got {_shown(security)}")
    if security == PLAINTEXT:
        return KafkaAccess(bootstrap, plaintext=True)
    username = _optional(env, "CERTLIFE_KAFKA_USERNAME", _text)
    password = _optional(env, "CERTLIFE_KAFKA_PASSWORD", _secret) or _optional(
        env, "CERTLIFE_KAFKA_PASSWORD_FILE", _password_file
    )
    ca = _optional(env, "CERTLIFE_KAFKA_CA_FILE", _path)
    local_ca = stack.ca_file
    if ca is None and local_ca.exists():
        ca = local_ca
    if username is None and principal is not None:
        username = principal
        if password is None:
            stored = read_secret(stack.state, "kafka", principal)
            password = Secret(stored) if stored else None
    # The local stack's admin logs in with PLAIN (over TLS), not SCRAM (stack/credentials.py).
    mechanism = "PLAIN" if username == ADMIN and stack.serves(bootstrap) else MECHANISM
    return KafkaAccess(bootstrap, username, password, ca, mechanism=mechanism)


def partner_access(env: Mapping[str, str] | None = None) -> KafkaAccess:
    """A partner tool's Kafka access: ``CERTLIFE_KAFKA_*`` only (a kit's ``kafka.env``), no local default."""
    env = dict(os.environ if env is None else env)
    return kafka_access_from_env(env, StackSettings.from_env({k: v for k, v in env.items() if v}), None)


@dataclass(frozen=True, repr=False)
class Settings:
    """Every setting of every certlife process, typed; see ``VARIABLES`` for the variables."""

    kafka: KafkaAccess
    database_url: str
    db_schema: str = field(default_factory=_default("CERTLIFE_DB_SCHEMA", _text))
    issuer: str = field(default_factory=_default("CERTLIFE_ISSUER", _text))
    origin: str = field(default_factory=_default("CERTLIFE_ORIGIN", _text))
    batch_max_records: int = field(default_factory=_default("CERTLIFE_BATCH_MAX_RECORDS", _positive))
    batch_timeout_ms: int = field(default_factory=_default("CERTLIFE_BATCH_TIMEOUT_MS", _count))
    #: Codec of the record batches the services publish (None: uncompressed).
    kafka_compression: str | None = field(
        default_factory=_default("CERTLIFE_KAFKA_COMPRESSION", _compression)
    )
    command_partitions: int = 4
    topic_prefix: str = field(default_factory=_default("CERTLIFE_TOPIC_PREFIX", _text))
    keys: KeySettings = field(default_factory=KeySettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    projections: ProjectionSettings = field(default_factory=ProjectionSettings)
    publisher: PublisherSettings = field(default_factory=PublisherSettings)
    #: Where a non-HTTP service serves its metrics and health (port None: nowhere; 0: any free port).
    metrics_host: str = field(default_factory=_default("CERTLIFE_METRICS_HOST", _text))
    metrics_port: int | None = field(default_factory=_default("CERTLIFE_METRICS_PORT", _metrics_port))
    #: Static group membership id of this process's consumer (None: dynamic membership).
    group_instance_id: str | None = None
    api: ApiSettings = field(default_factory=ApiSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, role: str = ADMIN) -> Settings:
        """Settings from ``CERTLIFE_*`` variables; endpoints default to the local stack.

        ``role`` names the process (``commands``, ``relay``, ``projections``; the
        operator's CLI: ``admin``): without ``CERTLIFE_KAFKA_USERNAME``, the
        local stack's principal for that role (and deployment prefix) is used.

        Raises ``SettingsError`` (one line, naming the variable) for a bad value.
        """
        env = dict(os.environ if env is None else env)
        for port in ("CERTLIFE_KAFKA_PORT", "CERTLIFE_KAFKA_CONTROLLER_PORT", "CERTLIFE_POSTGRES_PORT"):
            _read(env, port, _port)
        _optional(
            env, "CERTLIFE_KAFKA_PLAINTEXT_PORT", _port
        )  # StackSettings parses them: fail here with one line instead
        _optional(env, "CERTLIFE_POSTGRES_REPLICA_PORT", _port)
        stack = StackSettings.from_env({k: v for k, v in env.items() if v})  # empty counts as unset
        prefix = _read(env, "CERTLIFE_TOPIC_PREFIX", _text)
        return cls(
            kafka=kafka_access_from_env(env, stack, local_principal(role, prefix)),
            database_url=_optional(env, "CERTLIFE_DATABASE_URL", _database_url) or stack.database_url,
            db_schema=_read(env, "CERTLIFE_DB_SCHEMA", _text),
            issuer=_read(env, "CERTLIFE_ISSUER", _text),
            origin=_read(env, "CERTLIFE_ORIGIN", _text),
            batch_max_records=_read(env, "CERTLIFE_BATCH_MAX_RECORDS", _positive),
            batch_timeout_ms=_read(env, "CERTLIFE_BATCH_TIMEOUT_MS", _count),
            kafka_compression=_read(env, "CERTLIFE_KAFKA_COMPRESSION", _compression),
            topic_prefix=prefix,
            keys=KeySettings(
                directory=_optional(env, "CERTLIFE_KEYS_DIR", _path) or stack.home / "keys",
                passphrase=_optional(env, "CERTLIFE_KEY_PASSPHRASE", _secret),
                passphrase_file=_optional(env, "CERTLIFE_KEY_PASSPHRASE_FILE", _path),
                record_key_id=_optional(env, "CERTLIFE_RECORD_KEY_ID", _text),
            ),
            relay=RelaySettings(
                batch_size=_read(env, "CERTLIFE_RELAY_BATCH", _positive),
                checkpoint_every=_read(env, "CERTLIFE_CHECKPOINT_EVERY", _positive),
                checkpoint_interval=_read(env, "CERTLIFE_CHECKPOINT_INTERVAL", _seconds),
                poll_interval=_read(env, "CERTLIFE_POLL_INTERVAL", _seconds),
            ),
            projections=ProjectionSettings(
                batch_max_records=_read(env, "CERTLIFE_PROJECTION_BATCH", _positive),
                batch_timeout_ms=_read(env, "CERTLIFE_PROJECTION_BATCH_TIMEOUT_MS", _count),
                crash_in_batch=_read(env, "CERTLIFE_PROJECTION_CRASH_IN_BATCH", _count),
            ),
            publisher=PublisherSettings(
                tiles_dir=_optional(env, "CERTLIFE_TILES_DIR", _path) or stack.home / "tiles",
                witnesses_file=_optional(env, "CERTLIFE_WITNESSES_FILE", _path),
            ),
            metrics_host=_read(env, "CERTLIFE_METRICS_HOST", _text),
            metrics_port=_read(env, "CERTLIFE_METRICS_PORT", _metrics_port),
            group_instance_id=_optional(env, "CERTLIFE_GROUP_INSTANCE_ID", _text),
            api=ApiSettings(
                host=_read(env, "CERTLIFE_API_HOST", _text),
                port=_read(env, "CERTLIFE_API_PORT", _port),
                rate=_read(env, "CERTLIFE_API_RATE", _rate),
                burst=_read(env, "CERTLIFE_API_BURST", _positive),
                trust_file=_optional(env, "CERTLIFE_TRUST_FILE", _path) or stack.home / "trust.json",
            ),
        )

    def __repr__(self) -> str:
        """Every field, with the database password masked (the key passphrase is a ``Secret``)."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["database_url"] = redacted_url(self.database_url)
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    __str__ = __repr__

    @property
    def kafka_bootstrap(self) -> str:
        """The Kafka bootstrap address (``kafka.bootstrap``)."""
        return self.kafka.bootstrap

    def topic(self, name: str) -> str:
        """The topic name used here for the contract's topic ``name``."""
        return self.topic_prefix + name

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for the PostgreSQL event store."""
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            # host and port may be lists (a primary and its replica), with POSTGRES_TARGET_SESSION_ATTRS
            **pgurl.parse(self.database_url).eventsourcing_env(),
            "POSTGRES_SCHEMA": self.db_schema,
            "POSTGRES_POOL_SIZE": "4",
            "CREATE_TABLE": "y",
            "CERTLIFE_ISSUER": self.issuer,
            "CERTLIFE_ORIGIN": self.origin,
        }
