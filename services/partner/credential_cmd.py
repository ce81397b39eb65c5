"""``certverify credential FILE --export SOURCE [--status-list FILE|URL]…``: verify a certificate credential.

The log (``--export``: an export directory, ``kafka://…`` or a tiles URL) is
verified first, as by ``certverify log``; then the credential and both status
lists go through :class:`~certlife.services.partner.credential_checks.CredentialChecks`.
A status list not given with ``--status-list`` is read from the export
directory (``statuslists/<purpose>``), else fetched from the URL the
credential names. Exit 0 verified, 1 failed (the report's ``failure`` has the
code), 2 usage or input/output error. ``--trust`` defaults to the export
directory's ``trust.json``.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from certlife.services.partner.policy_option import add_witness_policy_option


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``credential``."""
    parser = sub.add_parser(
        "credential",
        help="verify a certificate credential (W3C VC, eddsa-jcs-2022) against the log and its status lists",
    )
    parser.add_argument("file", metavar="FILE", help="the credential (certctl credential): a file or a URL")
    parser.add_argument(
        "--export",
        metavar="SOURCE",
        help="the log: an export directory (its statuslists/ and trust.json are used), kafka://… or a tiles URL",
    )
    parser.add_argument(
        "--status-list",
        action="append",
        default=[],
        metavar="FILE|URL",
        help="a status list credential (once per purpose; default: the export's, else the credential's URL)",
    )
    parser.add_argument(
        "--trust", metavar="TRUST.JSON", help="the trust file (default: the export's trust.json)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON report object on stdout")
    parser.add_argument("--signatures", choices=["all", "checkpoints"], default="all", help=argparse.SUPPRESS)
    parser.add_argument(
        "--jobs", type=int, default=0, help="worker processes verifying the log (default: all CPUs)"
    )
    parser.add_argument(
        "--known-checkpoint", metavar="FILE", help="a checkpoint seen before: the log must extend it"
    )
    add_witness_policy_option(parser)
    parser.set_defaults(handler=run_credential)


def _inputs(args: argparse.Namespace) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The credential's bytes and the given status lists' ``(source, bytes)`` (read before any check)."""
    from certlife.services.cli.base import CliError
    from certlife.services.partner.document_input import read_document

    if args.export is None:
        raise CliError("credential needs --export SOURCE: the log to check it against")
    if args.jobs < 0:
        raise CliError("--jobs must not be negative")
    if args.trust is None:
        if not Path(args.export).is_dir():
            raise CliError("--trust is needed when --export is not an export directory")
        args.trust = str(Path(args.export) / "trust.json")
    if len(args.status_list) > 2:
        raise CliError("--status-list: at most one list per purpose (revocation, suspension)")
    raw = read_document(args.file, "credential")
    return raw, [(spec, read_document(spec, "status list")) for spec in args.status_list]


def _defaults(args: argparse.Namespace, cred: Any, given: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The lists of the purposes no given list has: the export's file, else the credential's URL."""
    from certlife.contracts.credentials.errors import CredentialError
    from certlife.contracts.credentials.ids import PURPOSES
    from certlife.contracts.credentials.statuslist import parse_status_list
    from certlife.services.partner.document_input import read_document

    covered = set()
    for _, raw in given:
        with contextlib.suppress(CredentialError):  # a malformed list is reported by the checks, in order
            covered.add(parse_status_list(raw).purpose)
    out = []
    for purpose in PURPOSES:
        if purpose in covered:
            continue
        local = Path(args.export) / "statuslists" / purpose
        spec = str(local) if local.is_file() else cred.status_list_url(purpose)
        out.append((spec, read_document(spec, f"{purpose} status list")))
    return out


def run_credential(args: argparse.Namespace) -> dict[str, Any]:
    """The report of ``certverify credential``; raise VerificationError with it when a check fails."""
    from certlife.contracts.credentials.check import parse_credential
    from certlife.contracts.credentials.errors import CredentialError
    from certlife.contracts.verification import VerificationError
    from certlife.contracts.verification.evidence import inclusion_evidence
    from certlife.services.partner.credential_checks import CredentialChecks, credential_json, failure
    from certlife.services.partner.log_keeper import verify_keeping

    raw, given = _inputs(args)
    out: dict[str, Any] = {"ok": False, "credential": None, "log": None, "statusLists": [], "checks": {}}
    try:
        first = parse_credential(raw)
    except CredentialError as exc:
        error = failure(exc.code, str(exc))
        error.report = {**out, "evidence": None, "failure": error.failure.to_json()}
        raise error from None
    lists = given + _defaults(args, first, given)
    report, kept = verify_keeping(args, args.export, first.number)
    checks = CredentialChecks(report, kept)
    out.update(credential=credential_json(first), log=report.to_json())
    evidence: list[tuple[int, bytes]] = []
    try:
        cred = checks.credential(raw)
        record = checks.record(cred)
        evidence.append((record.index, record.raw))
        for spec, data in lists:
            parsed, commitment = checks.status_list(cred, data)
            committed = checks.commitment_record(commitment)
            if committed is not None:
                evidence.append((commitment.index, committed))
            out["statusLists"].append(
                {
                    "purpose": parsed.purpose,
                    "source": spec,
                    "logSize": parsed.log_size,
                    "sha256": commitment.sha256,
                    "committedAt": commitment.index,
                    "keyId": parsed.key_id,
                }
            )
            checks.status(cred, parsed)
    except VerificationError as exc:
        out.update(checks=dict(checks.checks), failure=exc.failure.to_json())
        out["evidence"] = inclusion_evidence(sorted(set(evidence)), kept.leaves, report.latest_checkpoint)
        exc.report = out
        raise
    purposes = sorted(item["purpose"] for item in out["statusLists"])
    if purposes != ["revocation", "suspension"]:
        from certlife.services.cli.base import CliError

        raise CliError(f"need one revocation and one suspension list, got {purposes or 'none'}")
    out.update(ok=True, checks=dict(checks.checks), failure=None)
    out["evidence"] = inclusion_evidence(sorted(set(evidence)), kept.leaves, report.latest_checkpoint)
    return out
