"""Handlers of the ``certverify`` subcommands, and how a report becomes an exit status.

Each handler returns a JSON report or raises. A ``VerificationError`` is a
result, not a mistake: its report is printed and the status is 1. Every other
certlife error (``SourceError``: exit 2) goes up to ``certverify.main``, where
``run_guarded`` prints it as one line. A missing optional client (``aiokafka``,
``asyncpg``: see :data:`OPTIONAL_CLIENTS`) becomes a ``SourceError`` naming the
extra to install. Nothing else is caught, so a bug still shows its traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from certlife.contracts.verification import (
    VerificationError,
    VerificationReport,
    certificate_status,
    verify_log,
    verify_record,
)
from certlife.contracts.verification.failures import fail
from certlife.services.cli.exits import EXIT_FAILED, EXIT_OK
from certlife.services.partner.limits import RecordLimit, describe_size, read_prefix
from certlife.services.partner.output import show
from certlife.services.partner.policy_option import read_trust
from certlife.services.partner.sources import (
    LogSource,
    SourceError,
    byte_progress,
    open_source,
    read_bytes,
    with_progress,
)


def known_checkpoint_text(path: str | None) -> str | None:
    """The text of a ``--known-checkpoint`` file (a signed note: at most MAX_NOTE_SIZE bytes)."""
    if path is None:
        return None
    from certlife.contracts.notes import MAX_NOTE_SIZE

    try:
        return read_bytes(path, "known checkpoint", MAX_NOTE_SIZE).decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: known checkpoint is not UTF-8 text") from None


def run_record(args: argparse.Namespace) -> dict[str, Any]:
    """``certverify record FILE``: one record against the trust file.

    A file holding more than ``MAX_RECORD_BYTES`` (plus one newline) fails
    ``record-format`` without being read further.
    """
    from certlife.contracts.records import MAX_RECORD_BYTES

    trust = read_trust(args)  # a record carries no checkpoint: the policy is only checked to parse
    raw = read_prefix(args.file, "record file", MAX_RECORD_BYTES + 2)  # a record, its newline, one more
    if raw.endswith(b"\n") and raw.count(b"\n") == 1:
        raw = raw[:-1]  # a record file may hold one line
    if len(raw) > MAX_RECORD_BYTES:
        raise fail(
            "record-too-large",
            f"the record file holds more than {MAX_RECORD_BYTES} bytes "
            f"({describe_size(MAX_RECORD_BYTES)}, the record limit); not read further",
        )
    return verify_record(raw, trust).to_json()


def _verify_source(args: argparse.Namespace, watch: tuple[str, ...] = ()) -> VerificationReport:
    """Verify the log of ``args.source``; a record over MAX_RECORD_BYTES fails where it is."""
    from certlife.services.partner.parallel import default_jobs, pool_mapper

    trust = read_trust(args)
    known = known_checkpoint_text(args.known_checkpoint)
    source: LogSource = open_source(args.source)
    limit = RecordLimit()
    jobs = args.jobs or default_jobs()
    if jobs > 1 and not source.small and source.log_path is not None:
        from certlife.services.partner.ranges import plan_ranges

        log_path = source.log_path
        with byte_progress(source) as advance:  # workers read the export file themselves
            plan = plan_ranges(log_path, advance=advance, limit=limit.limit, oversized=limit.trip)
            return limit.verify(
                lambda: verify_log(
                    (),
                    source.checkpoints,
                    trust,
                    signatures=args.signatures,
                    known_checkpoint=known,
                    mapper=plan.pooled(jobs),
                    watch=watch,
                    planner=plan,
                )
            )
    mapper = None if jobs <= 1 or source.small else pool_mapper(jobs)
    return limit.verify(
        lambda: verify_log(
            limit.records(with_progress(source)),
            source.checkpoints,
            trust,
            signatures=args.signatures,
            known_checkpoint=known,
            mapper=mapper,
            watch=watch,
        )
    )


def run_log(args: argparse.Namespace) -> dict[str, Any]:
    """``certverify log SOURCE``: the whole log."""
    return _verify_source(args).to_json()


def run_status(args: argparse.Namespace) -> dict[str, Any]:
    """``certverify status NUMBER SOURCE``: verify the log, then answer one certificate's status."""
    report = _verify_source(args, watch=(args.number,))
    answer = certificate_status(report, args.number, now=datetime.now(UTC), max_age=args.max_age)
    result = {**report.to_json(), "answer": answer.to_json()}
    if answer.failure is not None:
        error = VerificationError(answer.failure)
        error.report = {**result, "ok": False, "failure": answer.failure.to_json()}
        raise error
    return result


def run_proof(args: argparse.Namespace) -> dict[str, Any]:
    """``certverify proof FILE``: a proof bundle or a C2SP tlog-proof, without the log."""
    from certlife.contracts.bundle import MAX_BUNDLE_SIZE
    from certlife.contracts.verification.proof import verify_bundle
    from certlife.services.partner.tlogproof_verify import is_tlog_proof, verify_tlog_proof_file

    trust = read_trust(args)
    data = read_bytes(args.bundle, "bundle", MAX_BUNDLE_SIZE)
    known = known_checkpoint_text(args.known_checkpoint)
    if is_tlog_proof(data):  # c2sp.org/tlog-proof@v1 (BUNDLE.md §4); malformed: exit 2
        return verify_tlog_proof_file(data, trust, known, trust.policy)
    return verify_bundle(data, trust, known).to_json()


HANDLERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "record": run_record,
    "log": run_log,
    "status": run_status,
    "proof": run_proof,
}


def _failed_report(exc: VerificationError) -> dict[str, Any]:
    report = exc.report
    if isinstance(report, dict):
        return report
    if report is not None:
        result: dict[str, Any] = report.to_json()
        return result
    return {"ok": False, "checks": {}, "failure": exc.failure.to_json()}


#: The optional clients some commands import, and the extra that installs each
#: (pyproject.toml): ``certlife[verify]`` reads ``kafka://`` sources, ``certlife[mirror]`` mirrors.
OPTIONAL_CLIENTS = {"aiokafka": "verify", "asyncpg": "mirror"}


def _call(
    handler: Callable[[argparse.Namespace], dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    """Run ``handler``; a missing optional client is a usage error naming the extra to install."""
    try:
        return handler(args)
    except ModuleNotFoundError as exc:
        extra = OPTIONAL_CLIENTS.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        raise SourceError(
            f"{args.command} needs {exc.name}, which is not installed: pip install 'certlife[{extra}]'"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; print its report (also a failed one); return the exit status."""
    handler = args.handler if callable(args.handler) else HANDLERS[args.command]
    try:
        report = _call(handler, args)
    except VerificationError as exc:
        show(_failed_report(exc), args.json)
        return EXIT_FAILED
    show(report, args.json)
    # A report that is not ok (for status: an 'unknown' answer) is never a success.
    return EXIT_OK if report.get("ok", True) is True else EXIT_FAILED
