"""``certverify``: verify certlife records, proofs and whole logs, offline.

Exit codes: 0 everything asked was verified, 1 verification failed (the
report names the index, the certificate and the check), 2 usage or
input/output error (one line, never a traceback).

Only ``argparse`` is imported up front; the verifier, ``cryptography``,
``nacl`` and ``aiokafka`` load when a command runs, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from datetime import timedelta

from certlife.services.cli.base import certificate_number, run_guarded
from certlife.services.partner.kit_option import add_kit_option, apply_kit
from certlife.services.partner.policy_option import add_witness_policy_option

#: Modules adding more subcommands, each with ``register(subparsers)``; the
#: handler they set (``set_defaults(handler=...)``) returns a JSON report dict.
EXTRA_COMMAND_MODULES: tuple[str, ...] = (
    "certlife.services.partner.mirror_cmd",
    "certlife.services.partner.credential_cmd",
)

#: What a log SOURCE may be (``log``, ``status``).
SOURCE_HELP = (
    "an export directory, a tiles directory (the publisher's: checkpoint and tile/), "
    "kafka://HOST:PORT[?prefix=TOPIC_PREFIX], or the http(s):// URL prefix of the "
    "log's C2SP tlog-tiles (e.g. https://tiles.example/log/)"
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:(\d+)([smhdw]))+")


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``15m``, ``24h``, ``7d``, ``2w`` or a sum such as ``1d12h``."""
    if not _DURATION.fullmatch(text):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (examples: 90s, 15m, 24h, 7d, 1d12h)")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in re.findall(r"(\d+)([smhdw])", text))
    return timedelta(seconds=seconds)


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("--jobs must be a positive integer")
    return int(text)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust", required=True, metavar="TRUST.JSON", help="the trust file (keys, origin)")
    parser.add_argument("--json", action="store_true", help="print one JSON report object on stdout")
    add_witness_policy_option(parser)


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--signatures",
        choices=["all", "checkpoints"],
        default="all",
        help="check every record signature (default), or rest on signed checkpoint roots",
    )
    parser.add_argument("--jobs", type=_jobs, default=0, help="worker processes (default: all CPUs)")
    parser.add_argument(
        "--known-checkpoint", metavar="FILE", help="a checkpoint seen before: the log must extend it"
    )
    add_kit_option(parser)


def build_parser() -> argparse.ArgumentParser:
    """The full ``certverify`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="certverify",
        description="Verify certlife records, proofs (bundles, C2SP tlog-proof) and logs offline.",
        epilog="Exit codes: 0 verified, 1 verification failed (for status, every form: also when the "
        "answer is 'unknown'), 2 usage or input/output error. Limits: a record (log line, Kafka message, "
        "record file) over 1 MiB fails 'record-too-large' at its position without being read whole; a proof "
        "file over 16 MiB, a checkpoint file over 1 MiB or a trust file over 16 MiB is refused unread (exit 2). "
        "Control characters in the output are shown as \\xNN or \\uNNNN escapes.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    record = sub.add_parser("record", help="verify one record file")
    record.add_argument("file", metavar="FILE")
    log = sub.add_parser("log", help="verify a whole log: an export directory, Kafka or tlog-tiles over HTTP")
    log.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    _log_options(log)
    proof = sub.add_parser(
        "proof", help="verify a proof bundle or a C2SP tlog-proof (certctl bundle), without the log"
    )
    proof.add_argument(
        "bundle", metavar="FILE", help="a proof bundle (JSON) or a tlog-proof (c2sp.org/tlog-proof@v1 text)"
    )
    proof.add_argument("--known-checkpoint", metavar="FILE", help="a checkpoint seen before")
    status = sub.add_parser(
        "status",
        help="answer one certificate's status: verify a log (SOURCE), or read your mirror (--database)",
    )
    status.add_argument("number", metavar="NUMBER", type=certificate_number)
    status.add_argument("source", metavar="SOURCE", nargs="?", help=SOURCE_HELP)
    status.add_argument("--database", metavar="DSN", help="read the partner mirror instead of a SOURCE")
    status.add_argument("--schema", default="certlife_mirror", help="the mirror's schema (with --database)")
    _log_options(status)
    status.add_argument(
        "--max-age",
        type=parse_duration,
        metavar="DURATION",
        help="answer 'unknown' when the newest checkpoint is older (e.g. 24h, 7d)",
    )
    status.add_argument(
        "--at",
        metavar="INSTANT",
        help="the status at this RFC 3339 instant (e.g. 2026-03-01T00:00:00Z): the newest record in "
        "effect then decides; shows the records and (--json) their inclusion proofs",
    )
    for command in (record, log, proof):
        _common(command)
        command.set_defaults(handler=None)
    status.add_argument("--trust", metavar="TRUST.JSON", help="the trust file (required with SOURCE)")
    status.add_argument("--json", action="store_true", help="print one JSON report object on stdout")
    add_witness_policy_option(status)
    status.set_defaults(handler=None)
    for name in EXTRA_COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point (everything printed goes through the terminal escaper).

    Returns the exit status: a failed verification prints its report (1); any
    other certlife error is one ``certverify: error: ...`` line, plus a JSON
    error object with ``--json`` (``run_guarded``; input errors are 2).
    """
    from certlife.services.cli.terminal import install

    install()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "status":
        if (args.source is None) == (args.database is None):
            parser.error("status needs either SOURCE (with --trust) or --database")
        if args.source is not None and args.trust is None:
            parser.error("status SOURCE needs --trust")
        if args.database is not None:
            from certlife.services.partner.mirror_cmd import run_mirror_status

            args.handler = run_mirror_status
        if args.at is not None:
            from certlife.services.partner.at_cmd import run_status_at

            args.handler = run_status_at
    from certlife.services.partner.commands import run

    def go() -> int:
        apply_kit(args)
        return run(args)

    json_errors = bool(getattr(args, "json", False))
    return run_guarded("certverify", go, json_errors=json_errors, exit_on_error=False)


if __name__ == "__main__":
    sys.exit(main())
