"""The composition root: the one place that builds certlife's processes and opens their connections.

Nothing here runs at import; each ``build_*`` / ``open_*`` reads only the
``Settings`` it is given, so tests call the same functions with their own
settings. The endpoints (``database_url``, ``kafka_bootstrap``) are read here
only: they become the process's connectors (``certlife.services.infra.connections``),
and each process's long-lived PostgreSQL session or pool is opened here and
handed down, never opened by the component that uses it
(tests/unit/test_composition.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from faststream import FastStream

from certlife.services.commands.application import CertificateApplication
from certlife.services.infra.connections import Kafka, Postgres
from certlife.services.infra.settings import Settings

if TYPE_CHECKING:
    import asyncpg
    from fastapi import FastAPI

    from certlife.projections.config import ProjectionConfig
    from certlife.services.publisher.publisher import Publisher
    from certlife.services.relay.keystore import KeyStore
    from certlife.services.relay.relay import Relay, RelayOptions


#: Seconds a pool may take to close its sessions gracefully before they are cut.
POOL_CLOSE_TIMEOUT = 5.0


async def close_pool(pool: asyncpg.Pool) -> None:
    """Close ``pool`` gracefully, or cut its sessions after :data:`POOL_CLOSE_TIMEOUT`: a session
    left broken by an outage can keep a graceful close waiting, and the process from exiting."""
    import asyncio

    try:
        await asyncio.wait_for(pool.close(), POOL_CLOSE_TIMEOUT)
    except TimeoutError:
        pool.terminate()


def postgres_connector(settings: Settings) -> Postgres:
    """The PostgreSQL connector of a process (event store and read models)."""
    return Postgres(settings.database_url)


def kafka_connector(settings: Settings) -> Kafka:
    """The Kafka connector of a process."""
    return Kafka(settings.kafka, compression=settings.kafka_compression)


def identity(settings: Settings) -> str:
    """Who the process is on Kafka and PostgreSQL (for its first log line; no secret)."""
    from urllib.parse import urlparse

    return f"Kafka principal {settings.kafka.principal} and PostgreSQL role {urlparse(settings.database_url).username}"


async def preflight(settings: Settings, role: str | None = None) -> None:
    """Check that PostgreSQL accepts our credentials, that the Kafka broker answers and,
    for a service ``role``, that its principal holds every grant the service uses.

    Raises :class:`~certlife.services.infra.connections.EndpointUnreachable` (one
    line naming the principal, the missing permission and the fix) otherwise.
    """
    await postgres_connector(settings).probe()
    kafka = kafka_connector(settings)
    await kafka.probe()
    if role is not None:
        from certlife.services.infra import principals

        await kafka.check_grants(principals.grants(principals.service(role, settings.topic_prefix)))


async def open_lock_session(settings: Settings, *, timeout: float = 10.0) -> asyncpg.Connection:
    """A PostgreSQL session for a leader lock (TCP keepalives); the caller closes it."""
    return await postgres_connector(settings).lock_session(timeout=timeout)


def build_application(
    settings: Settings,
    *,
    connect_timeout: int = 30,
    pool_size: int | None = None,
    create_tables: bool | None = None,
) -> CertificateApplication:
    """The event-sourced certificate application on PostgreSQL.

    Several processes start together and each creates the event store's tables
    if missing; concurrent ``CREATE TABLE IF NOT EXISTS`` can fail in PostgreSQL,
    so construction holds the schema's DDL lock (the one every certlife process
    takes around its DDL) on a connection of its own.

    With ``create_tables`` None the DDL runs only when the events table is
    missing: PostgreSQL refuses even ``CREATE TABLE IF NOT EXISTS`` of an existing
    table to a role without CREATE on the schema, and after ``certctl db migrate``
    the services run as such roles (``certlife.services.infra.dbroles``). True
    always runs it (migrations), False never.
    """
    import psycopg

    from certlife.projections.ddl import ddl_lock_key

    env = {**settings.eventsourcing_env(), "POSTGRES_CONNECT_TIMEOUT": str(connect_timeout)}
    if pool_size is not None:
        env["POSTGRES_POOL_SIZE"] = str(pool_size)
    with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=connect_timeout) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (ddl_lock_key(settings.db_schema),))
        if create_tables is None:
            events_table = f"{CertificateApplication.name.lower()}_events"  # eventsourcing's naming
            found = conn.execute(
                "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))",
                (settings.db_schema, events_table),
            ).fetchone()
            create_tables = found is None or found[0] is None
        env["CREATE_TABLE"] = "y" if create_tables else "n"
        return CertificateApplication(env=env)


def build_command_service(settings: Settings) -> FastStream:
    """The Kafka command service (faststream app) around the application."""
    from certlife.services.commands.service import build_command_service as build

    stream, _ = build(settings, build_application(settings), kafka_connector(settings))
    return stream


def build_keystore(settings: Settings, *, need_passphrase: bool = True) -> KeyStore:
    """The record and note keys (encrypted PKCS#8 in ``settings.keys.directory``)."""
    from certlife.services.relay.keystore import KeyStore, read_passphrase

    keys = settings.keys
    return KeyStore(keys.directory, read_passphrase(keys) if need_passphrase else None)


def relay_options(settings: Settings) -> RelayOptions:
    """The relay loop's tuning from ``settings.relay``: the one mapping onto ``RelayOptions``."""
    from certlife.services.relay.relay import RelayOptions

    tuning = settings.relay
    return RelayOptions(
        batch_size=tuning.batch_size,
        checkpoint_every=tuning.checkpoint_every,
        checkpoint_interval=tuning.checkpoint_interval,
        poll_interval=tuning.poll_interval,
    )


@contextlib.asynccontextmanager
async def open_relay(settings: Settings) -> AsyncIterator[Relay]:
    """The relay (notification log -> signed records -> Kafka) with its lock session open.

    The session (TCP keepalives: it takes the relay's leader lock) closes when
    the block ends, which also frees the lock.
    """
    from certlife.services.relay.relay import Relay

    app = build_application(settings)
    keystore = build_keystore(settings)
    session = await postgres_connector(settings).lock_session()
    try:
        yield Relay(
            settings, app, keystore, relay_options(settings), session=session, kafka=kafka_connector(settings)
        )
    finally:
        await session.close()


def projection_config(settings: Settings) -> ProjectionConfig:
    """The read models' configuration from ``settings``: the one mapping onto ``ProjectionConfig``.

    The projections layer cannot import ``Settings`` (layers point down), so its
    config is built here field by field; tests/unit/test_settings.py checks that
    every ``ProjectionConfig`` field is set from ``settings``.
    """
    from certlife.projections.config import ProjectionConfig

    tuning = settings.projections
    return ProjectionConfig(
        kafka_bootstrap=settings.kafka_bootstrap,
        database_url=settings.database_url,
        db_schema=settings.db_schema,
        issuer=settings.issuer,
        topic_prefix=settings.topic_prefix,
        batch_max_records=tuning.batch_max_records,
        batch_timeout_ms=tuning.batch_timeout_ms,
        crash_in_batch=tuning.crash_in_batch,
        group_instance_id=settings.group_instance_id,
    )


@contextlib.asynccontextmanager
async def open_projections(settings: Settings) -> AsyncIterator[FastStream]:
    """The projection process (faststream app feeding the read models) with its pool open.

    Creates the topics first (the subscribers need them), then opens the
    process's PostgreSQL pool; it closes when the block ends.
    """
    from certlife.projections import consumer
    from certlife.services.infra import metrics
    from certlife.services.infra.topics import certlife_topics

    kafka = kafka_connector(settings)
    await kafka.ensure_topics(certlife_topics(settings.command_partitions, settings.topic_prefix))
    pool = await postgres_connector(settings).pool(
        min_size=consumer.POOL_MIN_SIZE, max_size=consumer.POOL_MAX_SIZE
    )
    try:
        yield consumer.build_projection_app(
            projection_config(settings), kafka.broker(consumer.log), pool, metrics.projections()
        )
    finally:
        await close_pool(pool)


@contextlib.asynccontextmanager
async def open_publisher(settings: Settings) -> AsyncIterator[Publisher]:
    """The publisher (log topics -> tiles -> witnesses) with its HTTP client open.

    Runs as the relay's Kafka principal (``Settings.from_env(role="relay")``);
    the tile writer resumes from ``settings.publisher.tiles_dir``; the witness
    file, if set, is read now (a bad one is one line before anything starts).
    With the key passphrase set it also produces the status lists, signed by the
    credential key in force when CERTLIFE_KEYS_DIR holds it, and queues their
    commitments in ``relay_key_requests`` (``settings.database_url``: the relay's role).
    """
    import httpx

    from certlife.contracts import topics
    from certlife.services.publisher.publisher import Publisher
    from certlife.services.publisher.statuslists import ListProducer, relay_queue
    from certlife.services.publisher.witnesses import read_witnesses
    from certlife.services.relay.keystore import KeyStoreError
    from certlife.services.tiles.writer import TileWriter

    config = settings.publisher
    witnesses = [] if config.witnesses_file is None else read_witnesses(config.witnesses_file)
    config.tiles_dir.mkdir(parents=True, exist_ok=True)
    writer = TileWriter(config.tiles_dir)
    try:
        keystore = build_keystore(settings)
    except KeyStoreError:
        keystore = None  # no passphrase: tiles only, no status lists
    status_lists = (
        None
        if keystore is None
        else ListProducer(
            settings.origin,
            config.tiles_dir,
            keystore,
            relay_queue(settings.database_url, settings.db_schema),
        )
    )
    async with httpx.AsyncClient(http2=False) as http:
        yield Publisher(
            kafka=kafka_connector(settings),
            log_topic=settings.topic(topics.LOG),
            checkpoints_topic=settings.topic(topics.CHECKPOINTS),
            directory=config.tiles_dir,
            writer=writer,
            witnesses=witnesses,
            http=http,
            status_lists=status_lists,
        )


@contextlib.asynccontextmanager
async def open_api(
    settings: Settings, *, install_extra: Sequence[Callable[[FastAPI], None]] = (), pool_size: int = 8
) -> AsyncIterator[FastAPI]:
    """The status API's application (``certctl serve api``) with its PostgreSQL pool open.

    The pool logs in as ``settings.database_url`` names: in a deployment, the
    read-only role ``certlife_reader`` (``certctl db migrate`` grants it SELECT
    on the read models only). The trust file (``CERTLIFE_TRUST_FILE``) is read
    now: a missing or malformed one is one line before anything listens. The
    pool closes when the block ends.
    """
    from certlife.contracts.errors import ContractError
    from certlife.contracts.trust import TrustFile
    from certlife.projections.ddl import quote_ident
    from certlife.services.api.app import ApiOptions, ApiStartError, build_app

    api = settings.api
    try:
        trust = api.trust_file.read_bytes()
        TrustFile.from_bytes(trust)
    except OSError as exc:
        raise ApiStartError(
            f"cannot read the trust file {api.trust_file} (CERTLIFE_TRUST_FILE): {exc.strerror}; "
            "write it with `certctl keys trust`"
        ) from None
    except ContractError as exc:
        raise ApiStartError(f"{api.trust_file}: {exc}") from None
    options = ApiOptions(
        rate=api.rate, burst=api.burst, checkpoint_interval=settings.relay.checkpoint_interval
    )
    pool = await postgres_connector(settings).pool(min_size=1, max_size=pool_size)
    try:
        yield build_app(
            pool,
            quote_ident(settings.db_schema),
            settings.publisher.tiles_dir,
            trust,
            options,
            install_extra=install_extra,
        )
    finally:
        await close_pool(pool)
