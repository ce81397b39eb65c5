"""Print reports: one JSON object on stdout (``--json``), or a few lines for people."""

from __future__ import annotations

import json
import sys
from typing import Any

from certlife.contracts.verification.status import NOT_A_STATUS

#: Answers of ``status`` that are not a certificate status: never shown as verified.


def print_json(obj: dict[str, Any]) -> None:
    """Write one JSON object and a newline to stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _checks(checks: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in checks.items()) or "none"


def human_lines(report: dict[str, Any]) -> list[str]:
    """Lines for people from a JSON report (log, record, proof or status)."""
    lines = []
    if "statusLists" in report:  # certverify credential
        lines += credential_lines(report)
    elif "applied" in report:  # certverify mirror
        lines.append(
            f"mirror: {report['records']} records verified, {report['applied']} applied, origin "
            f"{report['origin']}, newest checkpoint of size {report['checkpointSize']}, "
            f"{report['waitingForCheckpoint']} waiting for a checkpoint"
            + (f", {_cosigned_by(report)}" if "cosignedBy" in report else "")
        )
        parked = report.get("parked") or {}
        if parked.get("count"):
            shown = ", ".join(f"{r['index']} ({r['code']})" for r in parked.get("records", [])[:5])
            lines.append(f"parked (verified, not applied): {parked['count']} (index {shown})")
    elif "records" in report:
        lines.append(
            f"log: {report['records']} records ({report['inputs']} read), origin {report['origin']}, "
            f"signatures: {report['signatures']}"
        )
        latest = report["latestCheckpoint"]
        if latest is not None:
            lines.append(
                f"checkpoints: {report['checkpoints']} verified, newest of size {latest['size']} "
                f"(root {latest['root']}, recorded {latest['time']})"
            )
        lines += _witness_lines(report)
        if report["duplicateCount"]:
            shown = ", ".join(f"{d['index']} at position {d['position']}" for d in report["duplicates"][:5])
            lines.append(f"duplicates accepted: {report['duplicateCount']} (index {shown})")
        lines.append(f"unanchored: {report['unanchored']} records past the newest checkpoint")
    elif report.get("certificate") is not None or report.get("index") is not None:
        what = report.get("kind", "record")
        lines.append(
            f"{what}: index {report.get('index')}, certificate {report.get('certificate')}, "
            f"{report.get('event')} -> {report.get('status')}"
        )
        checkpoint = report.get("checkpoint")
        if checkpoint is not None:
            lines.append(
                f"under checkpoint of size {checkpoint['size']} (root {checkpoint['root']})"
                + _cosigners(checkpoint)
            )
    lines.append(f"checks: {_checks(report['checks'])}")
    answer = report.get("answer")
    if answer is not None:
        lines.append(_answer_line(answer))
        lines += _instant_lines(answer)
    failure = report.get("failure")
    if failure is not None:
        lines.append(f"FAILED: {describe(failure)}")
    elif report.get("ok", True) is not True or (answer is not None and answer["status"] in NOT_A_STATUS):
        # Never VERIFIED beside an answer that is not a status.
        lines.append(f"NOT VERIFIED: the answer is {answer['status'] if answer else 'not verified'}")
    else:
        lines.append("VERIFIED")
    return lines


def credential_lines(report: dict[str, Any]) -> list[str]:
    """The lines of a ``certverify credential`` report before its checks."""
    lines = []
    cred, log = report.get("credential"), report.get("log")
    if cred is not None:
        lines.append(
            f"credential {cred['id']}: certificate {cred['number']} ({cred['status']}), record index "
            f"{cred['recordIndex']} (seq {cred['seq']}), log size {cred['logSize']}, list index "
            f"{cred['listIndex']}, key {cred['keyId']}"
        )
    if log is not None:
        latest = log["latestCheckpoint"]
        newest = "no checkpoint" if latest is None else f"newest checkpoint of size {latest['size']}"
        lines.append(f"log: {log['records']} records verified, origin {log['origin']}, {newest}")
    for item in report["statusLists"]:
        lines.append(
            f"{item['purpose']} list: log size {item['logSize']}, committed at index {item['committedAt']} "
            f"(sha256 {item['sha256'][:16]}…), from {item['source']}"
        )
    return lines


def _cosigned_by(checkpoint: dict[str, Any]) -> str:
    """``cosigned by A, B`` (and the invalid cosignatures) of a checkpoint a witness policy was applied to."""
    text = f"cosigned by {', '.join(checkpoint['cosignedBy']) or 'no witness of the policy'}"
    invalid = checkpoint.get("invalidCosignatures")
    return text + (f" (invalid cosignature by {', '.join(invalid)})" if invalid else "")


def _cosigners(checkpoint: dict[str, Any]) -> str:
    """``, cosigned by A, B`` when a witness policy was applied to ``checkpoint``, else nothing."""
    return f", {_cosigned_by(checkpoint)}" if "cosignedBy" in checkpoint else ""


def _witness_lines(report: dict[str, Any]) -> list[str]:
    """The witness policy lines of a log report: quorum, who cosigned, checkpoints without the quorum."""
    witnesses = report.get("witnesses")
    if witnesses is None:
        return []
    latest = report.get("latestCheckpoint")
    newest = (
        "no checkpoint meets it"
        if latest is None
        else f"the newest anchoring checkpoint (size {latest['size']}) is {_cosigned_by(latest)}"
    )
    lines = [f"witness quorum {witnesses['quorum']}: {newest}"]
    if witnesses["withoutQuorum"]:
        lines.append(
            f"checkpoints without the quorum (anchor nothing): {witnesses['withoutQuorum']}, "
            f"the newest of size {witnesses['newestWithoutQuorum']}"
        )
    if witnesses["invalidCosignatureCount"]:
        shown = ", ".join(
            f"{i['witness']} on size {i['checkpoint']}" for i in witnesses["invalidCosignatures"][:5]
        )
        lines.append(f"invalid cosignatures (not counted): {witnesses['invalidCosignatureCount']} ({shown})")
    return lines


def _answer_line(answer: dict[str, Any]) -> str:
    """``status of NUMBER [at T]: STATUS (what it rests on)``, or why there is no status."""
    subject = answer["number"] if answer.get("at") is None else f"{answer['number']} at {answer['at']}"
    if answer["status"] in NOT_A_STATUS:
        why = answer.get("reason") or "no verified answer"
        return f"status of {subject}: {answer['status']} ({why})"
    rests = answer["checkpoint"]
    on = f"checkpoint of size {rests['size']}" if rests else "no checkpoint"
    return (
        f"status of {subject}: {answer['status']} "
        f"(index {answer['index']}, {on}, recorded {answer['recordedAt']})"
        + (f"; {answer['note']}" if answer.get("note") and answer.get("at") is not None else "")
    )


def _record_text(record: dict[str, Any]) -> str:
    return (
        f"index {record['index']} (seq {record['seq']}, {record['event']} -> {record['status']}, "
        f"effective {record['effectiveAt']}, recorded {record['recordedAt']})"
    )


def _instant_lines(answer: dict[str, Any]) -> list[str]:
    """For an answer at an instant (``--at``): the record that decides it and the next change."""
    if "decidingRecord" not in answer:
        return []
    lines = []
    deciding = answer["decidingRecord"]
    if deciding is not None:
        until = deciding.get("validUntil")
        lines.append(
            f"decided by record {_record_text(deciding)}" + (f", valid until {until}" if until else "")
        )
    following = answer.get("nextRecord")
    if following is not None:
        lines.append(f"then record {_record_text(following)}")
    return lines


def describe(failure: dict[str, Any]) -> str:
    """One line for a JSON failure object."""
    where = [
        f"{label} {failure[key]}"
        for key, label in (
            ("index", "index"),
            ("certificate", "certificate"),
            ("checkpoint", "checkpoint of size"),
            ("position", "input position"),
        )
        if failure.get(key) is not None
    ]
    prefix = ", ".join(where) + ": " if where else ""
    return f"{prefix}check '{failure['check']}' failed ({failure['code']}): {failure['message']}"


def show(report: dict[str, Any], as_json: bool) -> None:
    """Print a report as JSON or as lines."""
    if as_json:
        print_json(report)
    else:
        sys.stdout.write("".join(line + "\n" for line in human_lines(report)))
