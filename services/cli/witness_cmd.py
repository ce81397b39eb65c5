"""``certctl witness init|add-log|list-logs`` and ``certctl serve witness``: a C2SP tlog-witness.

A partner body runs the witness for the logs it wants to keep honest. Its key
is encrypted in ``CERTLIFE_KEYS_DIR`` with ``CERTLIFE_KEY_PASSPHRASE(_FILE)``; its
state lives in ``CERTLIFE_DATABASE_URL`` under ``CERTLIFE_DB_SCHEMA``. Two
witnesses on one machine use two key directories and two schemas.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from certlife.services.cli.base import CliError

if TYPE_CHECKING:
    from certlife.services.infra.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``witness`` command group."""
    parser = sub.add_parser(
        "witness", help="set up a C2SP tlog-witness (run it with `certctl serve witness`)"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="create the witness's encrypted key; print its vkey")
    init.add_argument("--name", required=True, help="witness name, e.g. witness.example.org/w1")
    add = actions.add_parser("add-log", help="witness a log: its origin and note verifier key(s)")
    add.add_argument("--origin", required=True)
    add.add_argument("--key", action="append", required=True, dest="keys", help="note vkey (repeatable)")
    actions.add_parser("list-logs", help="the logs witnessed and the latest checkpoint cosigned for each")
    actions.add_parser("vkey", help="print the witness's verifier key")
    parser.set_defaults(handler=run)


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """Add ``certctl serve witness``'s options (those another service has not added already)."""
    present = parser._option_string_actions
    if "--port" not in present:
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="witness, tiles: TCP port (default 8380, 8381; 0: any free port)",
        )
    if "--host" not in present:
        parser.add_argument(
            "--host", default=None, help="witness, tiles: address to listen on (default 127.0.0.1)"
        )
    if "--tls-cert" not in present:
        parser.add_argument(
            "--tls-cert",
            type=Path,
            default=None,
            dest="tls_cert",
            metavar="PEM",
            help="witness: serve HTTPS with this certificate (chain) file (with --tls-key)",
        )
    if "--tls-key" not in present:
        parser.add_argument(
            "--tls-key",
            type=Path,
            default=None,
            dest="tls_key",
            metavar="PEM",
            help="witness: its private key file",
        )


def run(args: argparse.Namespace) -> int:
    """Carry out one witness action."""
    from certlife.services.infra.settings import Settings
    from certlife.services.relay.keystore import read_passphrase
    from certlife.services.witness.keys import WitnessKeyFiles

    settings = Settings.from_env()
    files = WitnessKeyFiles(settings.keys.directory)
    if args.action == "init":
        signer = files.create(args.name, read_passphrase(settings.keys))
        print(f"witness key:  {signer.vkey()}")
        print(f"key file:     {files.key_path} (encrypted)")
        return 0
    if args.action == "vkey":
        print(files.load(read_passphrase(settings.keys)).vkey())
        return 0
    return asyncio.run(_state_action(settings, args))


async def _state_action(settings: Settings, args: argparse.Namespace) -> int:
    from certlife.contracts.errors import NoteError
    from certlife.contracts.notes import NoteVerifier
    from certlife.services.infra.connections import Postgres
    from certlife.services.witness.store import WitnessStore

    if args.action == "add-log":
        if not args.origin or any(c in args.origin for c in "\n\r"):
            raise CliError("--origin must be one non-empty line")
        for vkey in args.keys:
            try:
                NoteVerifier.from_string(vkey)
            except NoteError as exc:
                raise CliError(f"--key: {exc}") from None
    postgres = Postgres(settings.database_url)
    conn = await postgres.lock_session()
    try:
        store = WitnessStore(conn, settings.db_schema)
        await store.create()
        if args.action == "add-log":
            new = await store.add_log(args.origin, list(args.keys))
            print(
                f"{'witnessing' if new else 'already witnessing'} {args.origin} ({len(args.keys)} key(s) given)"
            )
            return 0
        for state in await store.logs():
            print(f"{state.origin}\tsize {state.size}\t{len(state.vkeys)} key(s)")
            for vkey in state.vkeys:
                print(f"  {vkey}")
    finally:
        await conn.close()
    return 0


def serve(args: argparse.Namespace) -> int:
    """``certctl serve witness``: run the witness in the foreground until Ctrl-C or SIGTERM."""
    from certlife.services.infra.settings import Settings
    from certlife.services.witness.server import DEFAULT_PORT, ServeOptions
    from certlife.services.witness.server import serve as serve_witness

    port = DEFAULT_PORT if args.port is None else args.port  # checked by certctl serve
    options = ServeOptions(
        getattr(args, "host", None) or "127.0.0.1",
        port,
        getattr(args, "tls_cert", None),
        getattr(args, "tls_key", None),
    )
    asyncio.run(serve_witness(Settings.from_env(), options))
    return 0
