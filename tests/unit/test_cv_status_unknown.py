"""``certverify status``: every form exits 1 when the answer is unknown and never prints VERIFIED beside it.

The ``--database`` form runs against a faked mirror row here (no PostgreSQL);
``tests/integration/test_cv_status_unknown.py`` runs it against a real mirror.
"""

from __future__ import annotations

import argparse
import json
import types
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from certlife.services.partner.certverify import main
from certlife.services.partner.commands import run
from certlife.services.partner.output import human_lines
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit

DSN = "postgresql://nobody@127.0.0.1:1/none"


def _row(status: str | None, checkpoint_time: str | None = "2025-03-01T00:10:00Z") -> dict[str, Any]:
    held = status is not None
    return {
        "status": status,
        "seq": 2 if held else None,
        "log_index": 7 if held else None,
        "event": "suspended" if held else None,
        "recorded_at": "2025-03-01T00:07:00Z" if held else None,
        "checkpoint_size": 10,
        "checkpoint_time": checkpoint_time,
        "failure": None,
        "parked_index": None,
        "parked_code": None,
        "parked_message": None,
    }


@pytest.fixture
def mirror_row(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the mirror database answer with the row the test sets (``mirror_row.row``)."""
    holder = types.SimpleNamespace(row=None)

    def fake_run(coro: Coroutine[Any, Any, Any]) -> Any:
        coro.close()  # never awaited: no database
        return holder.row

    monkeypatch.setattr("certlife.services.partner.mirror_cmd.asyncio", types.SimpleNamespace(run=fake_run))
    return holder


def _status(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["status", "C-0001", "--database", DSN, "--schema", "m", *extra])
    return code, capsys.readouterr().out


def test_database_form_unknown_certificate_exits_1(
    mirror_row: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror_row.row = _row(None)
    code, out = _status(capsys)
    assert code == 1 and "VERIFIED" not in out.replace("NOT VERIFIED", "")
    assert "status of C-0001: unknown" in out and "certificate-not-found" in out
    code, out = _status(capsys, "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["answer"]["status"] == "unknown"
    assert report["failure"]["code"] == "certificate-not-found"


def test_database_form_stale_or_undated_checkpoint_with_max_age_exits_1(
    mirror_row: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror_row.row = _row("suspended")
    code, out = _status(capsys)
    assert code == 0 and out.rstrip().endswith("VERIFIED") and "suspended" in out
    code, out = _status(capsys, "--max-age", "1h", "--json")  # the checkpoint dates from 2025
    report = json.loads(out)
    assert code == 1 and report["answer"]["status"] == "unknown"
    assert report["failure"]["code"] == "stale-checkpoint"
    mirror_row.row = _row("suspended", checkpoint_time=None)
    code, out = _status(capsys, "--max-age", "1h")
    assert code == 1 and "stale-checkpoint" in out and not out.rstrip().endswith(" VERIFIED")
    fresh = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    mirror_row.row = _row("suspended", checkpoint_time=fresh)
    assert _status(capsys, "--max-age", "1h")[0] == 0


def test_source_form_unknown_certificate_exits_1_without_verified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = LogBuilder()
    b.issue_many(3)
    b.checkpoint()
    b.write_export(tmp_path)
    code = main(["status", "NO-SUCH", str(tmp_path), "--trust", str(tmp_path / "trust.json")])
    out = capsys.readouterr().out
    assert code == 1 and "status of NO-SUCH: unknown" in out
    assert out.rstrip().splitlines()[-1].startswith("FAILED:")


def test_a_report_that_is_not_ok_never_reads_verified_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = {"number": "N", "status": "unknown", "index": None, "checkpoint": None, "recordedAt": None}
    report = {"ok": False, "checks": {}, "failure": None, "answer": answer}
    lines = human_lines(report)
    assert lines[-1].startswith("NOT VERIFIED") and "VERIFIED" not in lines[-2]
    assert human_lines({**report, "ok": True})[-1].startswith("NOT VERIFIED")  # unknown, whatever ok says
    args = argparse.Namespace(command="status", handler=lambda _: report, json=False)
    assert run(args) == 1 and "VERIFIED\n" not in capsys.readouterr().out.replace("NOT VERIFIED", "")
