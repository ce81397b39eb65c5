"""``certctl serve commands|relay|projections|witness|publisher|tiles|all``: run certlife processes.

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
import sys
import textwrap
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiokafka.errors import KafkaError

from certlife.services.cli import serve_all, witness_cmd
from certlife.services.cli.base import CliError
from certlife.services.cli.exits import EXIT_ENDPOINT_LOST, EXIT_FAILED, EXIT_LOCK_LOST, EXIT_OK
from certlife.services.infra.denials import run_until_denied
from certlife.services.infra.kafka_access import describe_kafka_failure, is_denial
from certlife.services.infra.settings import Settings

log = logging.getLogger("certlife.serve")
T = TypeVar("T")


#: What each service does (``certctl serve --help``).
SERVICES: dict[str, str] = {
    "commands": "apply the commands sent on Kafka to the event store (one active instance: a leader lock)",
    "relay": "sign new events as log records and checkpoints; publish them on the log topics",
    "projections": "keep the read models (certctl status, ...) up to date",
    "witness": "a C2SP tlog-witness over HTTP(S): cosign checkpoints of the logs added with "
    "`certctl witness add-log` (port 8380)",
    "publisher": "write the log as C2SP tlog-tiles (CERTLIFE_TILES_DIR), have each checkpoint cosigned "
    "by the witnesses of CERTLIFE_WITNESSES_FILE, publish the cosigned checkpoint",
    "tiles": "serve a tiles directory TILES as C2SP tlog-tiles over HTTP (port 8381)",
    "api": "the HTTP status API and lookup page over the read models and the tiles "
    "(CERTLIFE_API_PORT, default 8080)",
    "all": serve_all.DESCRIPTION,
}

#: The listening options and the services that take them (any other service refuses them).
LISTEN_OPTIONS: dict[str, tuple[str, ...]] = {
    "port": ("witness", "tiles", "api"),
    "host": ("witness", "tiles", "api"),
    "tls_cert": ("witness",),
    "tls_key": ("witness",),
    "only": ("all",),
    "log_dir": ("all",),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` command group."""
    width = max(len(name) for name in SERVICES)
    parser = sub.add_parser(
        "serve",
        help="run a certlife service process until stopped",
        description="Run one certlife service in the foreground until Ctrl-C or SIGTERM.",
        epilog="services:\n"
        + "\n".join(
            textwrap.fill(
                text, 79, initial_indent=f"  {name:<{width}}  ", subsequent_indent=" " * (width + 4)
            )
            for name, text in SERVICES.items()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "service", choices=list(SERVICES), metavar="SERVICE", help="which service to run (below)"
    )
    parser.add_argument(
        "directory", nargs="?", type=Path, metavar="TILES", help="tiles only: the tiles directory to serve"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default INFO"
    )
    witness_cmd.add_serve_options(parser)  # --port, --host, --tls-cert, --tls-key
    serve_all.add_options(parser)  # --only, --log-dir
    # The supervisor's warm spare (services/cli/spare.py): not for people, so not in --help.
    parser.add_argument("--warm-spare", action="store_true", dest="warm_spare", help=argparse.SUPPRESS)
    parser.add_argument("--restarted", action="store_true", help=argparse.SUPPRESS)  # by the supervisor
    parser.set_defaults(handler=run)


def _refuse_unused_options(args: argparse.Namespace) -> None:
    """One line for a listening option, or TILES, given to a service that does not use it."""
    for dest, services in LISTEN_OPTIONS.items():
        if getattr(args, dest, None) is not None and args.service not in services:
            option = "--" + dest.replace("_", "-")
            only = " and ".join([", ".join(services[:-1]), services[-1]] if len(services) > 1 else services)
            raise CliError(f"certctl serve {args.service} takes no {option} (only {only})")
    if args.directory is not None and args.service != "tiles":
        raise CliError(f"certctl serve {args.service} takes no directory argument")


def run(args: argparse.Namespace) -> int:
    """Run the chosen service in the foreground; Ctrl-C or SIGTERM stops it cleanly."""
    _refuse_unused_options(args)
    if getattr(args, "port", None) is not None and not 0 <= args.port <= 65535:
        raise CliError(f"--port must be 0-65535, got {args.port}")
    from certlife.services.infra.logrepeat import RepeatFilter

    handler = logging.StreamHandler()
    # An outage: each cause once per 30 s with a count, not a line per attempt.
    handler.addFilter(RepeatFilter())
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=[handler]
    )
    if args.service == "all":  # a supervisor of the others (each child configures its own export)
        return serve_all.run(args)
    if args.warm_spare:
        from certlife.services.cli import spare

        if not spare.wait_for_go(args.service):
            return EXIT_OK  # stopped before it was needed
    from certlife.services.infra import otel

    otel.configure(args.service)
    if args.service == "witness":  # no Kafka: its own composition root
        return witness_cmd.serve(args)
    if args.service == "tiles":  # static files: no Kafka, no database
        from certlife.services.cli import tiles_cmd

        return tiles_cmd.serve(args)
    for noisy in ("aiokafka", "eventsourcing", "psycopg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.service == "api":  # the read side: PostgreSQL and the tiles, no Kafka
        from certlife.services.cli import api_cmd

        return api_cmd.serve(args, Settings.from_env(role="api"))
    role = _KAFKA_ROLE.get(args.service, args.service)
    settings = Settings.from_env(role=role)
    # Unreachable or misconfigured endpoints are one line, not a traceback from deep inside. A
    # restart (by the supervisor, or a warm spare handed the service) waits out an outage instead:
    # its endpoints worked before, and exiting again would only put it in the crash loop.
    asyncio.run(_preflight(settings, role, wait=args.warm_spare or args.restarted))
    from certlife.services import bootstrap

    log.info("%s runs as %s", args.service, bootstrap.identity(settings))
    try:
        if args.service == "relay":
            return asyncio.run(_with_metrics(settings, _run_relay(settings)))
        if args.service == "publisher":
            asyncio.run(_with_metrics(settings, _run_publisher(settings)))
            return EXIT_OK
        if args.service == "projections":
            asyncio.run(_with_metrics(settings, _run_projections(settings)))
            return EXIT_OK
        return asyncio.run(_with_metrics(settings, _run_commands(settings)))
    except KafkaError as exc:
        if not is_denial(exc):
            raise _lost(args.service, exc) from None
        # A permanent authorization error: retrying cannot help; one line and exit.
        raise CliError(describe_kafka_failure(exc, settings.kafka), EXIT_FAILED) from None
    except Exception as exc:
        raise _lost(args.service, exc) from None


def _lost(service: str, exc: Exception) -> Exception:
    """One line for an endpoint that went away under ``service`` (exit 5); any other error as it is."""
    from certlife.services.infra.outages import outage_cause

    cause = outage_cause(exc)
    if cause is None:
        return exc
    return CliError(
        f"{service}: {cause}; exiting (under `certctl serve all` it is restarted)", EXIT_ENDPOINT_LOST
    )


#: Services that run as another service's Kafka principal (the publisher: the relay's).
_KAFKA_ROLE = {"publisher": "relay"}


async def _with_metrics(settings: Settings, main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` with the process's ``/metrics``, ``/healthz`` and ``/readyz`` served beside it."""
    from certlife.services.infra.health import serve_metrics

    try:
        async with serve_metrics(settings.metrics_host, settings.metrics_port, log):
            return await main
    finally:
        main.close()  # never awaited if the metrics server could not start


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
    _health("standby")
    try:
        try:
            key = lock_key("commands", settings.db_schema)
            if not await wait_for_lock(conn, key, stop, "command service"):
                return EXIT_OK
        except SESSION_ERRORS as exc:
            raise CliError(f"lost the database session while standing by: {exc!r}", EXIT_FAILED) from None
        stream = bootstrap.build_command_service(settings)  # blocks briefly: nothing else runs yet
        stream.after_startup(_active)
        await asyncio.sleep(0.05)  # let a signal that arrived meanwhile reach `stop`
        if stop.is_set():
            return EXIT_OK
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)  # from here on faststream handles them
        watcher = asyncio.create_task(watch_lock(conn, _lock_lost))
        try:
            await run_until_denied(stream, logging.getLogger("certlife.commands"))
        finally:
            watcher.cancel()
    finally:
        await conn.close()
    return EXIT_OK


def _health(state: str) -> None:
    """Report ``state`` on ``/readyz`` (imported here: a verifier-only install has no prometheus-client)."""
    from certlife.services.infra.health import HEALTH

    HEALTH.set(state)


def _active() -> None:
    _health("active")


def _ready() -> None:
    _health("ready")


def _lock_lost(why: str) -> None:
    """Another instance may take over now: stop at once (offsets commit only with outcomes)."""
    log.critical("command service: %s; exiting so that a single instance stays active", why)
    logging.shutdown()
    os._exit(EXIT_LOCK_LOST)


async def _preflight(settings: Settings, role: str, *, wait: bool = False) -> None:
    """Check PostgreSQL, the Kafka broker and the service principal's grants; with ``wait``, an
    endpoint that does not answer is waited for (a line per cause per 30 s), a refusal is not."""
    from certlife.services import bootstrap
    from certlife.services.infra.connections import EndpointUnreachable

    while True:
        try:
            await bootstrap.preflight(settings, role)
            return
        except EndpointUnreachable as exc:
            if not (wait and exc.outage):
                raise
            log.warning("waiting for the endpoint to come back: %s", exc)
            await asyncio.sleep(PREFLIGHT_RETRY)


#: Seconds between a restarted service's attempts to reach an endpoint that is down.
PREFLIGHT_RETRY = 0.5


async def _run_projections(settings: Settings) -> None:
    from certlife.services import bootstrap
    from certlife.services.infra import metrics

    async with bootstrap.open_projections(settings) as app:
        broker = app.broker
        assert broker is not None
        metrics.consumer_lag().watch(lambda: [getattr(s, "consumer", None) for s in broker.subscribers])
        app.after_startup(_ready)
        await run_until_denied(app, logging.getLogger("certlife.projections"))


async def _run_relay(settings: Settings) -> int:
    from certlife.services import bootstrap
    from certlife.services.infra.leader import watch_lock
    from certlife.services.relay.records import RelayRefused

    stop = asyncio.Event()
    _stop_on_signals(stop)
    try:
        async with bootstrap.open_relay(settings) as relay:
            # Not at its next query: that can wait 15-18 s for the event store's pool to reconnect.
            lost = watch_lock(relay.session, _relay_lock_lost, every=0.5, probe=False)
            watcher = asyncio.create_task(lost)
            try:
                await relay.run(stop)
            finally:
                watcher.cancel()
    except RelayRefused as exc:
        log.critical("ALERT: the relay stopped publishing: %s", exc)
        raise CliError(f"relay refused to publish: {exc}", EXIT_FAILED) from None
    return EXIT_OK


def _relay_lock_lost(why: str) -> None:
    """The relay's session is gone, whatever it was waiting for: another relay may take over, so
    this one must not publish again (a restart waits for PostgreSQL and starts when it answers)."""
    print(
        f"certctl: error: relay: {why}; exiting (under `certctl serve all` it is restarted)", file=sys.stderr
    )
    logging.shutdown()
    os._exit(EXIT_ENDPOINT_LOST)


async def _run_publisher(settings: Settings) -> None:
    from certlife.services import bootstrap

    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with bootstrap.open_publisher(settings) as publisher:
        await publisher.run(stop)
