"""``certctl fixtures``: write a deterministic, valid TEST-ONLY export of N certificates."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from certlife.services.cli.base import EXIT_FAILED, CliError

DEFAULT_ORIGIN = (
    "certlife.example/log"  # certlife.services.demo.fixtures.DEFAULT_ORIGIN, without importing it
)


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``fixtures`` command."""
    parser = sub.add_parser(
        "fixtures",
        help="write a deterministic test export (log, checkpoints, trust file, TEST-ONLY keys)",
        description="Write a valid export of N certificates' lifecycles, byte-identical for the same "
        "arguments, with TEST-ONLY signing keys derived from the seed.",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="export directory")
    parser.add_argument("--certificates", required=True, type=_count(1), metavar="N")
    parser.add_argument("--seed", required=True, type=int, metavar="S", help="any integer")
    parser.add_argument("--checkpoint-every", type=_count(1), default=1000, metavar="K")
    parser.add_argument(
        "--origin", default=DEFAULT_ORIGIN, metavar="O", help="log origin (checkpoint key name)"
    )
    parser.add_argument("--workers", type=_count(0), default=None, help="signing processes (0: none)")
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty DIR, replacing its export"
    )
    parser.set_defaults(handler=run)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CliError(f"{out} exists and is not a directory")
    if out.is_dir() and not force and any(out.iterdir()):
        raise CliError(f"{out} is not empty (use --force to replace the export in it)")


@contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar on stderr when it is a terminal; yields the progress callback."""
    from tqdm import tqdm

    with tqdm(total=total, unit="cert", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:

        def update(issued: int, records: int) -> None:
            bar.update(issued - bar.n)
            bar.set_postfix_str(f"{records:,} records", refresh=False)

        yield update


def run(args: argparse.Namespace) -> int:
    """Generate the export and print a one-line summary."""
    from certlife.services.demo.fixtures import FixtureError, SigningError, generate
    from certlife.services.partner.export import ExportError

    _check_out(args.out, args.force)
    started = time.monotonic()
    try:
        with _progress_bar(args.certificates) as progress:
            summary = generate(
                args.out,
                args.certificates,
                args.seed,
                checkpoint_every=args.checkpoint_every,
                origin=args.origin,
                progress=progress,
                workers=args.workers,
            )
    except (FixtureError, ExportError) as exc:
        raise CliError(str(exc)) from None
    except SigningError as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    except OSError as exc:
        raise CliError(f"{args.out}: {exc.strerror or exc}") from None
    elapsed = time.monotonic() - started
    print(
        f"{summary.records} records, {summary.certificates} certificates, {summary.checkpoints} checkpoints, "
        f"{summary.key_rotations} key rotation(s) written to {summary.directory} in {elapsed:.1f}s"
    )
    return 0
