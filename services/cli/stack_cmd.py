"""``certctl stack up|down|status``: the native local Kafka + PostgreSQL."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``stack`` command group."""
    parser = sub.add_parser("stack", help="start, stop or inspect the local Kafka and PostgreSQL")
    parser.add_argument("action", choices=["up", "down", "status", "compose-init", "compose-provision"])
    parser.add_argument("--json", action="store_true", help="print endpoints as JSON")
    parser.add_argument(
        "--dir", type=Path, default=Path("/stack"), help="compose-*: the shared stack volume (default /stack)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out one stack action."""
    from certlife.services.infra import stack

    if args.action == "compose-init":
        from certlife.services.infra.stack.compose import compose_init

        print("wrote " + ", ".join(compose_init(args.dir)) + f" under {args.dir}")
        return 0
    if args.action == "compose-provision":
        from certlife.services.infra.settings import Settings
        from certlife.services.infra.stack.compose import compose_provision

        users = compose_provision(args.dir, Settings.from_env().topic_prefix)
        print("provisioned topics and principals " + ", ".join(users))
        return 0
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
