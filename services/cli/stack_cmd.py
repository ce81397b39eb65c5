"""``certctl stack up|down|status``: the native local Kafka + PostgreSQL."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``stack`` command group."""
    parser = sub.add_parser("stack", help="start, stop or inspect the local Kafka and PostgreSQL")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--json", action="store_true", help="print endpoints as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out one stack action."""
    from certlife.services.infra import stack

    if args.action == "up":
        endpoints = stack.up()
        if args.json:
            print(
                json.dumps(
                    {"kafkaBootstrap": endpoints.kafka_bootstrap, "databaseUrl": endpoints.database_url}
                )
            )
        else:
            print(f"kafka:    {endpoints.kafka_bootstrap}")
            print(f"postgres: {endpoints.database_url}")
    elif args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing (nothing was started by certctl)"))
    else:
        for line in stack.status():
            print(line)
    return 0
