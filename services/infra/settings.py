"""certlife's configuration, read once from the environment by the composition root."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from certlife.services.infra.stack.settings import StackSettings


@dataclass(frozen=True)
class Settings:
    """Every setting of every certlife process; see README for the variables."""

    kafka_bootstrap: str
    database_url: str
    db_schema: str = "public"
    issuer: str = "certlife.example"
    origin: str = "certlife.example/log"
    batch_max_records: int = 2000
    batch_timeout_ms: int = 50
    command_partitions: int = 4
    topic_prefix: str = ""
    #: Every CERTLIFE_* variable (may hold the key passphrase: never in repr).
    extra: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from ``CERTLIFE_*`` variables; endpoints default to the local stack."""
        env = dict(os.environ if env is None else env)
        stack = StackSettings.from_env(env)
        return cls(
            kafka_bootstrap=env.get("CERTLIFE_KAFKA_BOOTSTRAP") or stack.kafka_bootstrap,
            database_url=env.get("CERTLIFE_DATABASE_URL") or stack.database_url,
            db_schema=env.get("CERTLIFE_DB_SCHEMA", "public"),
            issuer=env.get("CERTLIFE_ISSUER", "certlife.example"),
            origin=env.get("CERTLIFE_ORIGIN", "certlife.example/log"),
            batch_max_records=int(env.get("CERTLIFE_BATCH_MAX_RECORDS", "2000")),
            batch_timeout_ms=int(env.get("CERTLIFE_BATCH_TIMEOUT_MS", "50")),
            topic_prefix=env.get("CERTLIFE_TOPIC_PREFIX", ""),
            extra={k: v for k, v in env.items() if k.startswith("CERTLIFE_")},
        )

    def topic(self, name: str) -> str:
        """The topic name used here for the contract's topic ``name``."""
        return self.topic_prefix + name

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for the PostgreSQL event store."""
        url = urlparse(self.database_url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/"),
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or ""),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": self.db_schema,
            "POSTGRES_POOL_SIZE": "4",
            "CREATE_TABLE": "y",
            "CERTLIFE_ISSUER": self.issuer,
        }
