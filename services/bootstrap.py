"""The composition root: the one place that builds certlife's processes.

Nothing here runs at import; each ``build_*`` reads only the ``Settings`` it is
given, so tests call the same functions with their own settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faststream import FastStream

from certlife.services.commands.application import CertificateApplication
from certlife.services.infra.settings import Settings

if TYPE_CHECKING:
    from certlife.projections.config import ProjectionConfig
    from certlife.services.relay.keystore import KeyStore
    from certlife.services.relay.relay import Relay, RelayOptions


def build_application(
    settings: Settings, *, connect_timeout: int = 30, pool_size: int | None = None
) -> CertificateApplication:
    """The event-sourced certificate application on PostgreSQL.

    Several processes start together and each creates the event store's tables
    if missing; concurrent ``CREATE TABLE IF NOT EXISTS`` can fail in PostgreSQL,
    so construction holds the schema's DDL lock (the one every certlife process
    takes around its DDL) on a connection of its own.
    """
    import psycopg

    from certlife.projections.ddl import ddl_lock_key

    env = {**settings.eventsourcing_env(), "POSTGRES_CONNECT_TIMEOUT": str(connect_timeout)}
    if pool_size is not None:
        env["POSTGRES_POOL_SIZE"] = str(pool_size)
    with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=connect_timeout) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (ddl_lock_key(settings.db_schema),))
        return CertificateApplication(env=env)


def build_command_service(settings: Settings) -> FastStream:
    """The Kafka command service (faststream app) around the application."""
    from certlife.services.commands.service import build_command_service as build

    stream, _ = build(settings, build_application(settings))
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


def build_relay(settings: Settings) -> Relay:
    """The relay (notification log -> signed records -> Kafka)."""
    from certlife.services.relay.relay import Relay

    return Relay(settings, build_application(settings), build_keystore(settings), relay_options(settings))


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
    )


def build_projections(settings: Settings) -> FastStream:
    """The projection process (faststream app feeding the read models)."""
    from certlife.projections.consumer import build_projection_app

    return build_projection_app(projection_config(settings))
