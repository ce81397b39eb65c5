"""``certctl serve commands|relay|projections``: run one certlife process.

Every connection of the process is opened by the composition root
(``certlife.services.bootstrap``); this module runs the process around them:
signals, the command service's leader lock, exit statuses. An endpoint that
cannot be reached raises ``EndpointUnreachable``, a certlife error: one line
and exit 1 at the entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from aiokafka.errors import KafkaError

from certlife.services.cli import witness_cmd
from certlife.services.cli.base import CliError
from certlife.services.cli.exits import EXIT_FAILED, EXIT_LOCK_LOST, EXIT_OK
from certlife.services.infra.kafka_access import describe_kafka_failure, is_denial
from certlife.services.infra.settings import Settings

log = logging.getLogger("certlife.serve")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` command group."""
    parser = sub.add_parser("serve", help="run a certlife service process until stopped")
    parser.add_argument(
        "service",
        choices=["commands", "relay", "projections", "witness", "publisher", "tiles"],
        help="which service to run",
    )
    parser.add_argument(
        "directory", nargs="?", type=Path, metavar="TILES", help="tiles: the directory to serve"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    witness_cmd.add_serve_options(parser)  # --port, --host, --tls-cert, --tls-key
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen service in the foreground; Ctrl-C or SIGTERM stops it cleanly."""
    if args.service == "witness":  # no Kafka: its own composition root
        return witness_cmd.serve(args)
    if args.service == "tiles":  # static files: no Kafka, no database
        from certlife.services.cli import tiles_cmd

        return tiles_cmd.serve(args)
    if args.directory is not None:
        raise CliError(f"certctl serve {args.service} takes no directory argument")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiokafka", "eventsourcing", "psycopg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    role = _KAFKA_ROLE.get(args.service, args.service)
    settings = Settings.from_env(role=role)
    # Unreachable or misconfigured endpoints are one line, not a traceback from deep inside.
    asyncio.run(_preflight(settings, role))
    from certlife.services import bootstrap

    log.info("%s runs as %s", args.service, bootstrap.identity(settings))
    try:
        if args.service == "relay":
            return asyncio.run(_run_relay(settings))
        if args.service == "publisher":
            asyncio.run(_run_publisher(settings))
            return EXIT_OK
        if args.service == "projections":
            asyncio.run(_run_projections(settings))
            return EXIT_OK
        return asyncio.run(_run_commands(settings))
    except KafkaError as exc:
        if not is_denial(exc):
            raise
        # A permanent authorization error: retrying cannot help; one line and exit.
        raise CliError(describe_kafka_failure(exc, settings.kafka), EXIT_FAILED) from None


#: Services that run as another service's Kafka principal (the publisher: the relay's).
_KAFKA_ROLE = {"publisher": "relay"}


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _run_commands(settings: Settings) -> int:
    """The command service, once this instance holds the event store's command-service lock."""
    from certlife.services import bootstrap
    from certlife.services.infra.leader import SESSION_ERRORS, lock_key, wait_for_lock, watch_lock

    stop = asyncio.Event()
    _stop_on_signals(stop)
    conn = await bootstrap.open_lock_session(settings)
    try:
        try:
            key = lock_key("commands", settings.db_schema)
            if not await wait_for_lock(conn, key, stop, "command service"):
                return EXIT_OK
        except SESSION_ERRORS as exc:
            raise CliError(f"lost the database session while standing by: {exc!r}", EXIT_FAILED) from None
        stream = bootstrap.build_command_service(settings)  # blocks briefly: nothing else runs yet
        await asyncio.sleep(0.05)  # let a signal that arrived meanwhile reach `stop`
        if stop.is_set():
            return EXIT_OK
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)  # from here on faststream handles them
        watcher = asyncio.create_task(watch_lock(conn, _lock_lost))
        try:
            await stream.run()
        finally:
            watcher.cancel()
    finally:
        await conn.close()
    return EXIT_OK


def _lock_lost(why: str) -> None:
    """Another instance may take over now: stop at once (offsets commit only with outcomes)."""
    log.critical("command service: %s; exiting so that a single instance stays active", why)
    logging.shutdown()
    os._exit(EXIT_LOCK_LOST)


async def _preflight(settings: Settings, role: str) -> None:
    """Check PostgreSQL, the Kafka broker and the service principal's grants."""
    from certlife.services import bootstrap

    await bootstrap.preflight(settings, role)


async def _run_projections(settings: Settings) -> None:
    from certlife.services import bootstrap

    async with bootstrap.open_projections(settings) as app:
        await app.run()


async def _run_relay(settings: Settings) -> int:
    from certlife.services import bootstrap
    from certlife.services.relay.records import RelayRefused

    stop = asyncio.Event()
    _stop_on_signals(stop)
    try:
        async with bootstrap.open_relay(settings) as relay:
            await relay.run(stop)
    except RelayRefused as exc:
        log.critical("ALERT: the relay stopped publishing: %s", exc)
        raise CliError(f"relay refused to publish: {exc}", EXIT_FAILED) from None
    return EXIT_OK


async def _run_publisher(settings: Settings) -> None:
    from certlife.services import bootstrap

    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with bootstrap.open_publisher(settings) as publisher:
        await publisher.run(stop)
