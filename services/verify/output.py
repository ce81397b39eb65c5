"""Print reports: one JSON object on stdout (``--json``), or a few lines for people."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(obj: dict[str, Any]) -> None:
    """Write one JSON object and a newline to stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _checks(checks: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in checks.items()) or "none"


def human_lines(report: dict[str, Any]) -> list[str]:
    """Lines for people from a JSON report (log, record, proof or status)."""
    lines = []
    if "records" in report:
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
            lines.append(f"under checkpoint of size {checkpoint['size']} (root {checkpoint['root']})")
    lines.append(f"checks: {_checks(report['checks'])}")
    answer = report.get("answer")
    if answer is not None:
        rests = answer["checkpoint"]
        on = f"checkpoint of size {rests['size']}" if rests else "no checkpoint"
        lines.append(
            f"status of {answer['number']}: {answer['status']} "
            f"(index {answer['index']}, {on}, recorded {answer['recordedAt']})"
        )
    failure = report.get("failure")
    if failure is None:
        lines.append("VERIFIED")
    else:
        lines.append(f"FAILED: {describe(failure)}")
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
