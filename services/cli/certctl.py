"""``certctl``: the operators' command line.

Command groups live in their own modules and are imported only when needed,
so ``certctl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from certlife.services.cli.base import run_guarded

#: Modules that each add one command group with a ``register(subparsers)`` function.
COMMAND_MODULES = (
    "certlife.services.cli.stack_cmd",
    "certlife.services.cli.serve_cmd",
    "certlife.services.cli.keys_cmd",
    "certlife.services.cli.export_cmd",
    "certlife.services.cli.commands_cmd",
    "certlife.services.cli.fixtures_cmd",
    "certlife.services.cli.projections_cmd",
    "certlife.services.cli.bundle_cmd",
    "certlife.services.cli.credential_cmd",
    "certlife.services.cli.db_cmd",
    "certlife.services.cli.principals_cmd",
    "certlife.services.cli.witness_cmd",
    "certlife.services.cli.tiles_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """The full ``certctl`` argument parser."""
    parser = argparse.ArgumentParser(prog="certctl", description="Operate certlife.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point (everything printed goes through the terminal escaper).

    certlife's errors end the command as one ``certctl: error: ...`` line and
    ``SystemExit`` with their status (``run_guarded``), as argparse's usage errors do.
    """
    from certlife.services.cli.terminal import install

    install()
    args = build_parser().parse_args(argv)
    return run_guarded("certctl", lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
