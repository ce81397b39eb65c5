"""``certctl tiles build``: publish an export's log as static C2SP tlog-tiles (contracts/TILES.md).

``certctl serve tiles DIR`` (:func:`serve`) serves such a directory over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from certlife.services.cli.base import CliError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``tiles`` command group."""
    parser = sub.add_parser("tiles", help="publish the log as static C2SP tlog-tiles")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="build or extend a tiles directory from an export",
        description="Write the export's log, up to its newest checkpoint, as tlog-tiles into the tiles "
        "directory (extending what it holds), then its checkpoint. The export must hash to its checkpoint.",
    )
    build.add_argument("--export", required=True, type=Path, metavar="DIR", help="export directory")
    build.add_argument("--out", required=True, type=Path, metavar="TILES", help="tiles directory")
    build.set_defaults(handler=run_build)


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """tqdm bars on stderr when it is a terminal, one per phase."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}
    try:

        def update(phase: str, done: int, total: int) -> None:
            bar = bars.get(phase)
            if bar is None:
                bar = bars[phase] = tqdm(
                    total=total, desc=phase, unit="rec", file=sys.stderr, disable=not sys.stderr.isatty()
                )
            bar.update(done - bar.n)

        yield update
    finally:
        for bar in bars.values():
            bar.close()


def run_build(args: argparse.Namespace) -> int:
    """Build the tiles and print a one-line summary."""
    from certlife.services.tiles.build import build_tiles

    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"{args.out} exists and is not a directory")
    with _progress() as progress:
        result = build_tiles(args.export, args.out, progress)
    signature = "verified with trust.json" if result.signature_checked else "not checked (no trust.json)"
    print(
        f"tiles: {args.out} holds {result.size} records and their checkpoint "
        f"({result.appended} written now; checkpoint signature {signature})"
    )
    return 0


def serve(args: argparse.Namespace) -> int:
    """``certctl serve tiles TILES [--host H] [--port N]``: serve a tiles directory until stopped."""
    from certlife.services.tiles.server import DEFAULT_PORT
    from certlife.services.tiles.server import serve as serve_tiles

    directory = getattr(args, "directory", None)
    if directory is None:
        raise CliError("certctl serve tiles needs the tiles directory: certctl serve tiles TILES")
    port = DEFAULT_PORT if getattr(args, "port", None) is None else args.port  # checked by certctl serve
    asyncio.run(serve_tiles(Path(directory), getattr(args, "host", None) or "127.0.0.1", port))
    return 0
