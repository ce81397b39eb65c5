"""``certctl credential NUMBER [--out FILE] [--log SOURCE]``: a certificate as a Verifiable Credential.

The log (default: the publisher's tiles directory, ``CERTLIFE_TILES_DIR``; or
an export directory, a tiles URL, ``kafka://…``) is verified in full against
the trust file (default: the source's ``trust.json``, else the one the relay's
key history gives, as ``certctl keys trust``). The credential is built from the
newest checkpoint N: the certificate's newest record below N, its list index
(issuance ordinal), ``logSize`` N, ``created`` the checkpoint's time; it is
signed by the credential key the log has in force at N-1, loaded from the
keystore (``certctl keys credential``). Nothing secret is ever printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from certlife.services.cli.base import EXIT_FAILED, CliError, certificate_number


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``credential`` command."""
    parser = sub.add_parser(
        "credential",
        help="sign one certificate as a W3C Verifiable Credential (eddsa-jcs-2022) from the verified log",
        description="Build the certificate's credential from its newest checkpointed record and sign it "
        "with the credential key in force (verify it with `certverify credential FILE --export DIR`).",
    )
    parser.add_argument("number", metavar="NUMBER", type=certificate_number, help="certificate number")
    parser.add_argument("--out", type=Path, metavar="FILE", help="file to write (default: stdout)")
    parser.add_argument(
        "--log",
        metavar="SOURCE",
        help="the log: the publisher's tiles directory (default), an export directory, a tiles URL or kafka://…",
    )
    parser.add_argument(
        "--trust", metavar="TRUST.JSON", help="the trust file (default: the source's trust.json)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes verifying the log (default 1)")
    parser.set_defaults(handler=run)


def _trust(args: argparse.Namespace, settings: Any, keystore: Any) -> Any:
    """The trust file: ``--trust``, the source's ``trust.json``, else the relay's key history."""
    import asyncio

    from certlife.contracts.trust import TrustFile
    from certlife.services.cli.keys_cmd import trust_bytes
    from certlife.services.partner.sources import read_trust_file

    if args.trust is None and (Path(args.log) / "trust.json").is_file():
        args.trust = str(Path(args.log) / "trust.json")
    if args.trust is not None:
        return read_trust_file(args.trust)
    return TrustFile.from_bytes(asyncio.run(trust_bytes(settings, keystore)))


def build(args: argparse.Namespace, settings: Any, keystore: Any) -> tuple[bytes, str]:
    """The credential's bytes and a line saying what it was built from."""
    from certlife.contracts.credentials.dcc import build_credential
    from certlife.contracts.records import RecordSigner, parse_record
    from certlife.contracts.verification import VerificationError
    from certlife.contracts.verification.at_instant import chain_of
    from certlife.services.partner.log_keeper import verify_keeping

    trust = _trust(args, settings, keystore)
    options = argparse.Namespace(signatures="all", jobs=args.jobs, known_checkpoint=None, trust=None)
    try:
        report, kept = verify_keeping(options, args.log, args.number, trust)
    except VerificationError as exc:
        raise CliError(f"the log does not verify: {exc.failure.describe()}", EXIT_FAILED) from None
    checkpoint = report.latest_checkpoint
    if checkpoint is None or checkpoint.time is None or report.credentials is None:
        raise CliError(f"{args.log}: no checkpoint to build a credential from", EXIT_FAILED)
    size = checkpoint.size
    chain = [r for r in chain_of(args.number, kept.records, kept.leaves) if r.index < size]
    if not chain:
        raise CliError(
            f"certificate {args.number} has no record under the newest checkpoint (size {size})", 1
        )
    key = report.credentials.key_in_force(size - 1)
    if key is None:
        raise CliError(
            f"no credential key is in force at index {size - 1}: run `certctl keys credential generate` "
            "and announce it",
            EXIT_FAILED,
        )
    signer = RecordSigner(keystore.credential_key(key.key_id))
    newest = chain[-1]
    list_index = kept.issued_before(chain[0].index)
    data = build_credential(parse_record(newest.raw), newest.raw, list_index, size, checkpoint.time, signer)
    what = (
        f"credential for {args.number}: record {newest.index} (seq {newest.seq}, {newest.status}), "
        f"list index {list_index}, checkpoint of size {size}, key {key.key_id}"
    )
    return data, what


def run(args: argparse.Namespace) -> int:
    """Build, sign and write the credential."""
    from certlife.services import bootstrap
    from certlife.services.infra.fileio import write_file_atomic
    from certlife.services.infra.settings import Settings

    settings = Settings.from_env()
    if args.log is None:
        args.log = str(settings.publisher.tiles_dir)
    if args.jobs < 0:
        raise CliError("--jobs must not be negative")
    if "://" not in args.log and not Path(args.log).is_dir():
        raise CliError(f"{args.log}: no such export or tiles directory")
    data, what = build(args, settings, bootstrap.build_keystore(settings))
    if args.out is None:
        sys.stdout.buffer.write(data + b"\n")
        sys.stdout.flush()
        print(what, file=sys.stderr)
        return 0
    try:
        write_file_atomic(args.out, data + b"\n")
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write: {exc.strerror}") from None
    print(f"{what} -> {args.out}")
    return 0
