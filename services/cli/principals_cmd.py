"""``certctl clients|partners add|revoke|list``: who may use the Kafka cluster.

Run as the cluster's admin principal (the local stack's by default; else
``CERTLIFE_KAFKA_USERNAME`` / ``CERTLIFE_KAFKA_PASSWORD_FILE``). ``add`` creates
the principal with exactly the grants of ``certlife.services.infra.principals``
and writes its kit (``certlife.services.infra.kit``); the password is never
printed. ``revoke`` deletes the credential and every ACL at once: open
connections lose access with their next request, new ones are refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

from certlife.services.cli.base import EXIT_FAILED, EXIT_OK, CliError

_HELP = {
    "client": ("clients", "internal systems that publish commands and read outcomes"),
    "partner": ("partners", "partner labs that read the public log and checkpoints"),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``clients`` and ``partners`` command groups."""
    for kind, (group, what) in _HELP.items():
        parser = sub.add_parser(group, help=f"add, revoke or list {what}")
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = actions.add_parser("add", help=f"create a {kind} principal and write its kit")
        add.add_argument("name", help="lower-case letters, digits and '-'")
        add.add_argument("--kit", type=Path, required=True, metavar="DIR", help="new folder for the kit")
        if kind == "partner":
            add.add_argument(
                "--trust",
                type=Path,
                metavar="TRUST.JSON",
                help="trust file to include (default: made from the keys)",
            )
        revoke = actions.add_parser("revoke", help=f"delete a {kind}'s credential and every grant")
        revoke.add_argument("name")
        listing = actions.add_parser("list", help=f"list the {group}")
        listing.add_argument("--json", action="store_true", help="one JSON array")
        parser.set_defaults(handler=run, kind=kind)


def _trust(args: argparse.Namespace, settings: object) -> bytes:
    if args.trust is not None:
        from certlife.contracts.errors import TrustError
        from certlife.contracts.trust import TrustFile

        try:
            data = bytes(args.trust.read_bytes())
        except OSError as exc:
            raise CliError(f"cannot read {args.trust}: {exc.strerror}", 2) from None
        try:
            TrustFile.from_bytes(data)
        except TrustError as exc:
            raise CliError(f"{args.trust}: {exc}: pass the file `certctl keys trust` wrote", 2) from None
        return data
    from certlife.services import bootstrap
    from certlife.services.cli.keys_cmd import trust_bytes

    return asyncio.run(trust_bytes(settings, bootstrap.build_keystore(settings)))  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    """Carry out one ``clients`` / ``partners`` action as the admin principal."""
    from aiokafka.errors import KafkaError

    from certlife.services.infra import principals
    from certlife.services.infra.kafka_access import describe_kafka_failure
    from certlife.services.infra.kit import write_kit
    from certlife.services.infra.settings import Settings
    from certlife.services.infra.stack import StackSettings, credentials

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # failures are one line below
    settings = Settings.from_env()
    admin = settings.kafka
    prefix = settings.topic_prefix
    stack = StackSettings.from_env()
    # On the local stack, keep each credential so a broker restart cannot lose it (stack/credentials.py).
    journal = credentials.journal(stack.state) if stack.serves(admin.bootstrap) else None
    try:
        if args.action == "list":
            rows = asyncio.run(principals.listing(admin, args.kind, prefix))
            if args.json:
                print(json.dumps([{"name": n, "acls": c} for n, c in rows]))
            else:
                for name, count in rows:
                    print(f"{name}\t{count} ACLs")
                if not rows:
                    print(f"no {_HELP[args.kind][0]}")
            return EXIT_OK
        who = principals.member(args.kind, args.name, prefix)
        if args.action == "revoke":
            if not asyncio.run(principals.revoke(admin, who, journal)):
                raise CliError(f"no {args.kind} named {args.name}", EXIT_FAILED)
            print(f"revoked {who.user}: credential and every ACL deleted")
            return EXIT_OK
        trust = _trust(args, settings) if args.kind == "partner" else None
        if args.kit.exists() and (not args.kit.is_dir() or any(args.kit.iterdir())):
            raise CliError(
                f"{args.kit} exists and is not an empty folder: choose a new folder for the kit", 2
            )
        secret = asyncio.run(principals.add(admin, who, journal=journal))
        files = write_kit(args.kit, who, admin.bootstrap, secret, admin.ca_file, trust)
    except KafkaError as exc:
        raise CliError(describe_kafka_failure(exc, admin), EXIT_FAILED) from None
    print(f"added {who.user} with {len(principals.grants(who))} ACLs; kit in {args.kit}: {', '.join(files)}")
    return EXIT_OK
