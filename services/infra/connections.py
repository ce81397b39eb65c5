"""Connectors: how a certlife process reaches PostgreSQL and Kafka, built only by the composition root.

The endpoints are read from ``Settings`` in one place,
``certlife.services.bootstrap``. It builds one :class:`Postgres` and one
:class:`Kafka` connector per process, opens that process's long-lived
PostgreSQL session or pool itself, and hands the opened connection and the
connectors down. A component never reads ``database_url`` or
``kafka_bootstrap``: what it must open later, at the moment its protocol
needs it (a transactional producer only once it holds the leader lock, a
consumer to read the log back, the topics before it publishes), it opens
through the connector it was handed. tests/unit/test_composition.py checks
that no other module of the runtime packages opens a client itself.

Only asyncpg and aiokafka are imported up front; faststream only when a
broker is built.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from certlife.domain.errors import CertlifeError
from certlife.projections.committed import committed_consumer
from certlife.services.infra.kafka_access import KafkaAccess, classify_kafka_failure
from certlife.services.infra.kafka_admin import Acl, missing_grants
from certlife.services.infra.leader import KEEPALIVE_SETTINGS, SESSION_ERRORS
from certlife.services.infra.partitioner import KeyPartitioner
from certlife.services.infra.pgsettings import SESSION_SETTINGS
from certlife.services.infra.topics import TopicSpec, ensure_topics
from certlife.services.infra.transactions import TransactionalPublisher

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker
    from faststream.security import BaseSecurity

#: Seconds to wait for a PostgreSQL session before giving up (asyncpg's default).
CONNECT_TIMEOUT = 60.0
#: Seconds the start-up probes and a command service's lock session wait.
PROBE_TIMEOUT = 10.0


class EndpointUnreachable(CertlifeError, code="endpoint-unreachable"):
    """PostgreSQL or Kafka cannot be reached or refuses this process: one line naming which and why.

    ``outage`` is True when the endpoint did not answer (refused or dropped the
    connection, timed out, is starting or shutting down), False when it answered
    and refused us (credentials, grants, TLS): waiting can help only the former.
    """

    def __init__(self, message: str, *, outage: bool = False) -> None:
        """``message`` for people; ``outage``: the endpoint did not answer."""
        super().__init__(message)
        self.outage = outage


def _database_outage(exc: BaseException) -> bool:
    """True when PostgreSQL did not answer (down, starting, shutting down), not when it refused us."""
    from certlife.services.infra.outages import outage_cause

    return isinstance(exc, (OSError, TimeoutError)) or outage_cause(exc) is not None


def _kafka_unreachable(exc: BaseException, access: KafkaAccess) -> EndpointUnreachable:
    text, outage = classify_kafka_failure(exc, access)
    return EndpointUnreachable(text, outage=outage)


@dataclass(frozen=True)
class Postgres:
    """The PostgreSQL endpoint of a process; connects only when asked."""

    #: May hold a password: never in the repr.
    dsn: str = field(repr=False)

    async def connect(self, *, timeout: float = CONNECT_TIMEOUT) -> asyncpg.Connection:
        """A new session with certlife's session settings (``pgsettings``)."""
        return await asyncpg.connect(self.dsn, timeout=timeout, server_settings=SESSION_SETTINGS)

    async def lock_session(self, *, timeout: float = CONNECT_TIMEOUT) -> asyncpg.Connection:
        """A session that may hold a leader lock (``certlife.services.infra.leader``).

        It has TCP keepalives, so the server frees the lock of a vanished holder in
        about 25 s. Raises :class:`EndpointUnreachable` when PostgreSQL cannot be
        reached or refuses us.
        """
        try:
            return await asyncpg.connect(
                self.dsn, timeout=timeout, server_settings={**SESSION_SETTINGS, **KEEPALIVE_SETTINGS}
            )
        except SESSION_ERRORS as exc:
            raise EndpointUnreachable(
                f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}", outage=_database_outage(exc)
            ) from None

    async def pool(self, *, min_size: int, max_size: int) -> asyncpg.Pool:
        """A connection pool of ``min_size`` to ``max_size`` sessions (certlife's session settings)."""
        return await asyncpg.create_pool(
            self.dsn, min_size=min_size, max_size=max_size, server_settings=SESSION_SETTINGS
        )

    async def probe(self) -> None:
        """Check that PostgreSQL accepts our credentials (:class:`EndpointUnreachable` otherwise)."""
        await (await self.lock_session(timeout=PROBE_TIMEOUT)).close()


@dataclass(frozen=True)
class Kafka:
    """The Kafka endpoint of a process and its principal; connects only when asked."""

    access: KafkaAccess
    #: Codec of the record batches its publishers write (None: uncompressed; see ``TransactionalPublisher``).
    compression: str | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address (for messages)."""
        return self.access.bootstrap

    def consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        """An unstarted read-committed consumer (``certlife.projections.committed.OpenConsumer``)."""
        return committed_consumer(self.access.client_options(), *topics, **options)

    def producer(self, **options: Any) -> AIOKafkaProducer:
        """An unstarted producer with ``options`` (``certlife.services.infra.transactions.OpenProducer``).

        ``acks=all`` unless asked otherwise: on a replicated cluster a write is acknowledged
        only once ``min.insync.replicas`` brokers hold it. Keys are partitioned as aiokafka's
        default partitioner does, natively (``KeyPartitioner``).
        """
        defaults: dict[str, Any] = {"acks": "all", "partitioner": KeyPartitioner()}
        return AIOKafkaProducer(**self.access.client_options(), **{**defaults, **options})

    def publisher(self, transactional_id: str) -> TransactionalPublisher:
        """The exactly-once publisher registering ``transactional_id`` when started (it fences older ones)."""
        return TransactionalPublisher(transactional_id, self.producer, compression=self.compression)

    def broker(self, logger: logging.Logger) -> KafkaBroker:
        """A faststream broker (connects when its app starts).

        Its per-batch access lines ("Received", "Processed") are DEBUG: at
        INFO a busy service wrote two lines per batch, tens a second, at a
        few percent of its CPU; what a batch did is in the service's metrics,
        its failures are logged at ERROR as before.
        """
        from faststream.kafka import KafkaBroker

        # A list: faststream would pass "a:1,b:2" to aiokafka as one host name.
        servers = [address.strip() for address in self.bootstrap.split(",")]
        return KafkaBroker(
            servers, logger=logger, log_level=logging.DEBUG, security=self._security(), acks="all"
        )

    def _security(self) -> BaseSecurity | None:
        """The access's settings for faststream (SCRAM-SHA-512 over TLS; None in plaintext)."""
        if self.access.plaintext:
            return None
        from faststream.security import SASLPlaintext, SASLScram512

        username, password = self.access.require_credentials()
        scheme = SASLPlaintext if self.access.mechanism == "PLAIN" else SASLScram512
        return scheme(
            username=username, password=password.reveal(), ssl_context=self.access.ssl_context, use_ssl=True
        )

    async def ensure_topics(self, specs: list[TopicSpec]) -> None:
        """Create the topics of ``specs`` that do not exist yet."""
        await ensure_topics(self.access, specs)

    async def check_grants(self, needed: list[Acl]) -> None:
        """Check that our principal holds ``needed`` (:class:`EndpointUnreachable` naming the first gap)."""
        from aiokafka.errors import KafkaError

        try:
            missing = await missing_grants(self.access, needed)
        except (KafkaError, OSError) as exc:
            raise _kafka_unreachable(exc, self.access) from None
        if missing:
            first = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            what = f"{first.operation.name} on {first.resource.name.lower().replace('_', ' ')} {first.name}"
            raise EndpointUnreachable(
                f"Kafka at {self.bootstrap} denies principal {self.access.principal} {what}{more}: "
                "the operator grants it (certctl stack up provisions the services; README 'who may do what')"
            )

    async def probe(self) -> None:
        """Check that the broker answers (:class:`EndpointUnreachable` otherwise)."""
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        admin = AIOKafkaAdminClient(
            **self.access.client_options(), request_timeout_ms=int(PROBE_TIMEOUT * 1000)
        )
        quiet = logging.getLogger("aiokafka")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)  # the one-line error below says it
        try:
            await admin.start()
        except (KafkaError, OSError) as exc:
            raise _kafka_unreachable(exc, self.access) from None
        finally:
            quiet.setLevel(level)
            await admin.close()
