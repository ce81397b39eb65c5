"""Handlers of the ``certverify`` subcommands and the one place errors become exit codes.

Each handler returns a JSON report or raises: ``VerificationError`` (exit 1,
report printed), ``SourceError`` (exit 2, one line). Nothing else is caught,
so a bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from contracts.verification import (
    VerificationError,
    VerificationReport,
    certificate_status,
    verify_log,
    verify_record,
)
from services.verify.output import print_json, show
from services.verify.sources import (
    LogSource,
    SourceError,
    byte_progress,
    open_source,
    read_bytes,
    read_trust_file,
    with_progress,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _text(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: {what} is not UTF-8 text") from None


def run_record(args: argparse.Namespace) -> dict[str, Any]:
    """``certverify record FILE``: one record against the trust file."""
    trust = read_trust_file(args.trust)
    raw = read_bytes(args.file, "record file")
    if raw.endswith(b"\n") and raw.count(b"\n") == 1:
        raw = raw[:-1]  # a record file may hold one line
    return verify_record(raw, trust).to_json()


def _verify_source(args: argparse.Namespace, watch: tuple[str, ...] = ()) -> VerificationReport:
    from services.verify.parallel import default_jobs, pool_mapper

    trust = read_trust_file(args.trust)
    known = _text(args.known_checkpoint, "known checkpoint")
    source: LogSource = open_source(args.source)
    jobs = args.jobs or default_jobs()
    if jobs > 1 and not source.small and source.log_path is not None:
        from services.verify.ranges import batch_for_range, plan_ranges

        with byte_progress(source) as advance:  # workers read the export file themselves
            return verify_log(
                (),
                source.checkpoints,
                trust,
                signatures=args.signatures,
                known_checkpoint=known,
                mapper=pool_mapper(jobs, worker=batch_for_range),
                watch=watch,
                planner=plan_ranges(source.log_path, advance=advance),
            )
    mapper = None if jobs <= 1 or source.small else pool_mapper(jobs)
    return verify_log(
        with_progress(source),
        source.checkpoints,
        trust,
        signatures=args.signatures,
        known_checkpoint=known,
        mapper=mapper,
        watch=watch,
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
    """``certverify proof BUNDLE``: a proof bundle, without the log."""
    from contracts.verification.proof import verify_bundle

    trust = read_trust_file(args.trust)
    data = read_bytes(args.bundle, "bundle")
    known = _text(args.known_checkpoint, "known checkpoint")
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


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; print its report; return the exit code."""
    handler = args.handler if callable(args.handler) else HANDLERS[args.command]
    try:
        report = handler(args)
    except VerificationError as exc:
        show(_failed_report(exc), args.json)
        return EXIT_FAILED
    except SourceError as exc:
        print(f"certverify: error: {exc}", file=sys.stderr)
        if args.json:
            print_json({"ok": False, "error": {"code": "input", "message": str(exc)}})
        return EXIT_USAGE
    show(report, args.json)
    return EXIT_OK
