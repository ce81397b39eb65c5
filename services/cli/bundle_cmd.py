"""``certctl bundle NUMBER --export DIR --out FILE [--format bundle|tlog-proof]``: one certificate's proof.

The default format is the proof bundle (contracts/BUNDLE.md §1); ``tlog-proof``
writes a C2SP ``c2sp.org/tlog-proof@v1`` file holding the record bytes
(BUNDLE.md §4). ``certverify proof FILE`` reads either.
"""

from __future__ import annotations

import argparse
import sys
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
        help="write a proof bundle (or a C2SP tlog-proof) for one certificate from an export",
        description="Prove a certificate's latest record under the export's newest checkpoint "
        "(verify it with `certverify proof FILE --trust trust.json`).",
    )
    parser.add_argument("number", metavar="NUMBER", help="certificate number", type=certificate_number)
    parser.add_argument("--export", required=True, type=Path, metavar="DIR", help="export directory")
    parser.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="file to write (the bundle or tlog-proof)"
    )
    parser.add_argument(
        "--known-size", type=_size, metavar="N", help="add a consistency proof from tree size N (bundle only)"
    )
    parser.add_argument(
        "--format",
        choices=["bundle", "tlog-proof"],
        default="bundle",
        help="certlife proof bundle (JSON, default) or C2SP tlog-proof (record bytes in its extra line)",
    )
    parser.set_defaults(handler=run)


def _write(path: Path, data: bytes) -> None:
    from certlife.services.infra.fileio import write_file_atomic

    try:
        write_file_atomic(path, data)
    except OSError as exc:
        raise CliError(f"{path}: cannot write: {exc.strerror}") from None


def _tlog_proof(args: argparse.Namespace) -> None:
    from certlife.contracts.notes import note_signatures
    from certlife.services.partner.bundles import tlog_proof_from_export

    proof, notes = tlog_proof_from_export(args.export, args.number)
    _write(args.out, proof.to_bytes())
    for note in notes:
        print(f"certctl: note: {note}", file=sys.stderr)
    signatures = len(note_signatures(proof.checkpoint)[1])
    print(
        f"tlog-proof for {args.number}: record {proof.index} under checkpoint of size "
        f"{proof.parsed.size} ({signatures} signature line(s)) -> {args.out}"
    )


def _bundle(args: argparse.Namespace) -> None:
    from certlife.services.partner.bundles import bundle_from_export

    bundle = bundle_from_export(args.export, args.number, args.known_size)
    _write(args.out, bundle.to_bytes())
    print(
        f"bundle for {args.number}: record {bundle.record.index} under checkpoint of size "
        f"{bundle.tree_size}, {len(bundle.key_records)} key record(s) -> {args.out}"
    )


def run(args: argparse.Namespace) -> int:
    """Build and write the bundle or tlog-proof."""
    from certlife.services.partner.bundles import BundleError, ExportError

    if args.format == "tlog-proof" and args.known_size is not None:
        raise CliError("--known-size needs --format bundle: a tlog-proof carries no consistency proof")
    try:
        (_tlog_proof if args.format == "tlog-proof" else _bundle)(args)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    except BundleError as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    return 0
