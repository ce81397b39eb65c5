"""``certctl serve commands|relay|projections``: run one certlife process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from services.cli.base import EXIT_FAILED, CliError
from services.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` command group."""
    parser = sub.add_parser("serve", help="run a certlife service process until stopped")
    parser.add_argument("service", choices=["commands", "relay", "projections"], help="which service to run")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen service in the foreground; Ctrl-C or SIGTERM stops it cleanly."""
    from services import bootstrap

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiokafka", "eventsourcing", "psycopg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings.from_env()
    if args.service == "relay":
        return asyncio.run(_run_relay(settings))
    if args.service == "projections":
        asyncio.run(_run_projections(settings))
        return 0
    stream = bootstrap.build_command_service(settings)
    asyncio.run(stream.run())
    return 0


async def _run_projections(settings: Settings) -> None:
    from services import bootstrap
    from services.kafka_topics import certlife_topics, ensure_topics

    await ensure_topics(
        settings.kafka_bootstrap, certlife_topics(settings.command_partitions, settings.topic_prefix)
    )
    await bootstrap.build_projections(settings).run()


async def _run_relay(settings: Settings) -> int:
    from services import bootstrap
    from services.relay.recovery import RelayRefused

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    relay = bootstrap.build_relay(settings)
    try:
        await relay.run(stop)
    except RelayRefused as exc:
        raise CliError(f"relay refused to start: {exc}", EXIT_FAILED) from None
    return 0
