"""``certctl stack up|down|status``: the native local Kafka + PostgreSQL."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certlife.services.infra.stack import StackSettings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``stack`` command group."""
    parser = sub.add_parser("stack", help="start, stop or inspect the local Kafka and PostgreSQL")
    parser.add_argument(
        "action", choices=["up", "down", "status", "promote", "compose-init", "compose-provision"]
    )
    parser.add_argument("--json", action="store_true", help="print endpoints as JSON")
    parser.add_argument(
        "--brokers",
        metavar="N",
        help="up|down|status: 1 (the single broker, default) or a KRaft cluster of 3 (or 5) nodes "
        "in its own folder, on ports from 9192 (default: CERTLIFE_KAFKA_BROKERS, else 1)",
    )
    parser.add_argument(
        "--pg-replica",
        action="store_true",
        help="up: also start a synchronous streaming replica of PostgreSQL on CERTLIFE_POSTGRES_REPLICA_PORT "
        "(default: the primary's port + 1); `certctl stack promote` makes it the primary",
    )
    parser.add_argument(
        "--postgres-only", action="store_true", help="up: start PostgreSQL (and replica) only"
    )
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
        from certlife.services.infra.stack import compose

        # --brokers 3: the ``cluster`` profile's nodes (same volume, same passwords).
        clustered = args.brokers is not None and _settings(args.brokers).clustered
        bootstrap = compose.CLUSTER_BOOTSTRAP if clustered else compose.INTERNAL_BOOTSTRAP
        users = compose.compose_provision(args.dir, Settings.from_env().topic_prefix, bootstrap)
        print(f"provisioned topics and principals on {bootstrap}: " + ", ".join(users))
        return 0
    settings = _settings(args.brokers)
    if args.action == "promote":
        print(stack.promote(settings))
        return 0
    if args.action == "up":
        endpoints = stack.up(settings, pg_replica=args.pg_replica, postgres_only=args.postgres_only)
        if args.json:
            shown: dict[str, object] = {"kafkaBootstrap": endpoints.kafka_bootstrap}
            shown["databaseUrl"] = endpoints.database_url
            if settings.clustered:  # what selects this stack in another process (no secret)
                shown |= {"brokers": settings.brokers, "env": settings.selection_env()}
            print(json.dumps(shown))
        else:
            if not args.postgres_only:
                print(f"kafka:    {endpoints.kafka_bootstrap}")
            print(f"postgres: {endpoints.database_url}")
            if settings.clustered:
                print(f"clients:  CERTLIFE_KAFKA_BROKERS={settings.brokers} selects this cluster")
    elif args.action == "down":
        stopped = stack.down(settings)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing (nothing was started by certctl)"))
    else:
        for line in stack.status(settings):
            print(line)
    return 0


def _settings(brokers: str | None) -> StackSettings:
    """The stack's settings from the environment, ``--brokers`` taking precedence."""
    import os

    from certlife.services.infra.stack import StackSettings

    env = dict(os.environ)
    if brokers is not None:
        env["CERTLIFE_KAFKA_BROKERS"] = brokers
    return StackSettings.from_env(env)
