"""What a projection process needs to know.

The projections layer cannot import the services' ``Settings`` (layers point
down), so ``ProjectionConfig`` is built from it in one place only, the
composition root's ``certlife.services.bootstrap.projection_config``; the
tuning defaults below equal the ``CERTLIFE_PROJECTION_*`` defaults of the
settings registry (tests/unit/test_settings.py checks both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from certlife.contracts import topics


@dataclass(frozen=True)
class ProjectionConfig:
    """Endpoints, names and tuning of the read models; no IO at construction."""

    kafka_bootstrap: str
    #: May hold a password: never in the repr.
    database_url: str = field(repr=False)
    db_schema: str = "public"
    issuer: str = "certlife.example"
    topic_prefix: str = ""
    batch_max_records: int = 4000
    #: Longest idle poll (ms): a batch is applied as soon as any record is there, never filled by waiting.
    batch_timeout_ms: int = 10
    #: Fault injection for tests: exit (no commit) inside the N-th batch transaction.
    crash_in_batch: int = 0
    #: Static membership id of the live consumer (KIP-345), or None for dynamic membership.
    group_instance_id: str | None = None

    @property
    def log_topic(self) -> str:
        """This deployment's record log topic."""
        return self.topic_prefix + topics.LOG

    @property
    def checkpoints_topic(self) -> str:
        """This deployment's checkpoint topic."""
        return self.topic_prefix + topics.CHECKPOINTS

    def group_id(self, projection: str) -> str:
        """The consumer group of one projection (offsets live in PostgreSQL, not here)."""
        return f"{self.topic_prefix}certlife-projection-{projection}"

    @property
    def schema_sql(self) -> str:
        """The schema name quoted for SQL."""
        return '"' + self.db_schema.replace('"', '""') + '"'
