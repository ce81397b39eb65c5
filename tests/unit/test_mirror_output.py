"""``certverify mirror`` without ``--json`` prints its report for people (it crashed with KeyError)."""

from __future__ import annotations

import pytest

from certlife.services.partner.output import human_lines

pytestmark = pytest.mark.unit


def test_mirror_report_in_human_form_names_applied_and_parked() -> None:
    report = {
        "ok": True, "origin": "o.example/log", "records": 11, "applied": 8, "checkpointSize": 11,
        "waitingForCheckpoint": 0, "checks": {"signature": 11},
        "parked": {"count": 3, "thisRun": 3, "records": [
            {"index": 3, "code": "inadmissible-text"}, {"index": 5, "code": "inadmissible-text"},
            {"index": 6, "code": "database-refused"}]},
        "failure": None,
    }  # fmt: skip
    text = "\n".join(human_lines(report))
    assert "11 records verified, 8 applied" in text
    assert "parked (verified, not applied): 3 (index 3 (inadmissible-text), 5" in text


def test_mirror_report_names_who_cosigned_under_a_witness_policy() -> None:
    report = {
        "ok": True, "origin": "o.example/log", "records": 4, "applied": 4, "checkpointSize": 4,
        "cosignedBy": ["partner-a", "partner-b"], "waitingForCheckpoint": 0, "checks": {},
        "parked": {"count": 0, "thisRun": 0, "records": []}, "failure": None,
    }  # fmt: skip
    assert (
        "newest checkpoint of size 4, 0 waiting for a checkpoint, cosigned by partner-a, partner-b"
        in "\n".join(human_lines(report))
    )
    del report["cosignedBy"]
    assert "cosigned" not in "\n".join(human_lines(report))
