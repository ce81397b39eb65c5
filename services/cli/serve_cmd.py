"""``certctl serve commands|relay|projections``: run one certlife process."""

from __future__ import annotations

import argparse
import asyncio
import logging


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` command group."""
    parser = sub.add_parser("serve", help="run a certlife service process until stopped")
    parser.add_argument("service", choices=["commands"], help="which service to run")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen service in the foreground; Ctrl-C or SIGTERM stops it cleanly."""
    from services import bootstrap
    from services.config import Settings

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiokafka", "eventsourcing", "psycopg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings.from_env()
    stream = bootstrap.build_command_service(settings)
    asyncio.run(stream.run())
    return 0
