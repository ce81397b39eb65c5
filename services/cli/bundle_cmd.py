"""``certctl bundle NUMBER --export DIR --out FILE``: a proof bundle for one certificate."""

from __future__ import annotations

import argparse
from pathlib import Path

from certlife.services.cli.base import EXIT_FAILED, CliError, certificate_number


def _size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("--known-size must be a positive integer")
    return int(text)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bundle`` command."""
    parser = sub.add_parser(
        "bundle",
        help="write a proof bundle for one certificate from an export",
        description="Prove a certificate's latest record under the export's newest checkpoint "
        "(verify it with `certverify proof FILE --trust trust.json`).",
    )
    parser.add_argument("number", metavar="NUMBER", help="certificate number", type=certificate_number)
    parser.add_argument("--export", required=True, type=Path, metavar="DIR", help="export directory")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="bundle file to write")
    parser.add_argument(
        "--known-size", type=_size, metavar="N", help="add a consistency proof from tree size N"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build and write the bundle."""
    from certlife.services.infra.fileio import write_file_atomic
    from certlife.services.partner.bundles import BundleError, ExportError, bundle_from_export

    try:
        bundle = bundle_from_export(args.export, args.number, args.known_size)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    except BundleError as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    try:
        write_file_atomic(args.out, bundle.to_bytes())
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write: {exc.strerror}") from None
    print(
        f"bundle for {args.number}: record {bundle.record.index} under checkpoint of size "
        f"{bundle.tree_size}, {len(bundle.key_records)} key record(s) -> {args.out}"
    )
    return 0
