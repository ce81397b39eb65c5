"""``certificate_status``: the answer, what it rests on, and when it must be ``unknown``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certlife.contracts.verification import (
    NOT_A_STATUS,
    UNAVAILABLE,
    UNKNOWN,
    CheckpointRef,
    LatestRecord,
    certificate_status,
    decide_status,
    parse_time,
    verify_log,
)
from certlife.projections.answer import answer_status
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _log() -> LogBuilder:
    b = LogBuilder()
    b.issue_many(6)  # C-0000 is suspended and reinstated
    b.add("C-0001", "suspended", "suspended")
    b.checkpoint()
    b.add("C-0002", "revoked", "revoked")  # past the checkpoint
    return b


def _answer(number: str, signatures: str = "all", max_age: timedelta | None = None) -> dict[str, object]:
    b = _log()
    report = verify_log(b.lines(), b.checkpoints, b.trust(), signatures=signatures, watch=[number])
    return certificate_status(report, number, now=NOW, max_age=max_age).to_json()


def test_anchored_status_names_its_index_and_checkpoint() -> None:
    answer = _answer("C-0001")
    assert answer["status"] == "suspended" and answer["anchored"] is True
    assert answer["index"] == 10 and answer["checkpoint"]["size"] == 11  # type: ignore[index]
    assert answer["reason"] is None


def test_unanchored_record_counts_only_when_its_signature_was_checked() -> None:
    answer = _answer("C-0002")
    assert (answer["status"], answer["anchored"], answer["checkpoint"]) == ("revoked", False, None)
    answer = _answer("C-0002", signatures="checkpoints")
    assert answer["status"] == UNKNOWN and "signature was not checked" in str(answer["reason"])


def test_unknown_certificate() -> None:
    answer = _answer("NOPE-1")
    assert answer["status"] == UNKNOWN and answer["index"] is None


def test_max_age_uses_the_time_of_the_newest_checkpoint() -> None:
    # Record 10 (the checkpoint's last) was recorded at 2025-03-01T00:10:00Z.
    assert _answer("C-0001", max_age=timedelta(hours=12))["status"] == "suspended"
    stale = _answer("C-0001", max_age=timedelta(hours=11))
    assert stale["status"] == UNKNOWN and "00:10:00Z" in str(stale["reason"])


def test_max_age_without_any_checkpoint_is_unknown() -> None:
    b = LogBuilder()
    b.issue_many(2)
    report = verify_log(b.lines(), [], b.trust(), watch=["C-0001"])
    answer = certificate_status(report, "C-0001", now=NOW, max_age=timedelta(days=365))
    assert (
        answer.status == UNKNOWN and answer.failure is not None and answer.failure.code == "stale-checkpoint"
    )
    assert certificate_status(report, "C-0001", now=NOW).status == "valid"


def test_parse_time() -> None:
    assert parse_time("2025-03-01T00:10:00Z") == datetime(2025, 3, 1, 0, 10, tzinfo=UTC)
    assert parse_time("2025-03-01T00:10:00.123456789Z").microsecond == 123456
    with pytest.raises(ValueError):
        parse_time("2025-03-01 00:10:00")


def test_an_unavailable_record_answers_unavailable_never_its_old_status() -> None:
    parked = {"index": 12, "certificate": "B-1", "code": "inadmissible-text", "message": "holder: U+0000"}
    newest = CheckpointRef(20, "2025-03-01T00:00:00Z")
    answer = decide_status("B-1", LatestRecord(12, UNAVAILABLE), newest, now=NOW, parked=parked)
    assert (answer.status, answer.index, answer.checkpoint_size, answer.anchored) == (
        UNAVAILABLE,
        12,
        20,
        True,
    )
    assert answer.failure is not None and answer.failure.code == "record-parked"
    assert answer.note == "record 12 parked: inadmissible-text: holder: U+0000"
    assert answer.to_json()["parked"] == parked and answer.to_json()["seq"] is None
    # A freshness bound does not turn it into a status or into unknown.
    stale = decide_status("B-1", LatestRecord(12, UNAVAILABLE), newest, now=NOW, max_age=timedelta(0))
    assert stale.status == UNAVAILABLE and stale.failure is not None and stale.failure.code == "record-parked"


def test_a_live_status_past_the_validity_period_answers_expired_when_the_source_knows_it() -> None:
    latest = LatestRecord(3, "suspended", recorded_at="2025-01-01T00:00:00Z", valid_until=NOW)
    assert decide_status("A-1", latest, CheckpointRef(4), now=NOW).status == "expired"
    assert decide_status("A-1", LatestRecord(3, "suspended"), CheckpointRef(4), now=NOW).status == "suspended"
    assert {UNKNOWN, UNAVAILABLE} == NOT_A_STATUS


def test_the_read_model_answers_with_the_same_rule_as_the_verified_log() -> None:
    """``certctl status`` (a read-model row) and ``certverify status`` (the log) give one answer."""
    b = _log()
    for number in ("C-0001", "C-0002", "NOPE-1"):
        report = verify_log(b.lines(), b.checkpoints, b.trust(), watch=[number])
        verified = certificate_status(report, number, now=NOW)
        facts = report.watched.get(number)
        row = None
        if facts is not None:
            row = {
                "status": facts.status,
                "log_index": facts.log_index,
                "seq": facts.seq,
                "event": facts.event,
                "effective_at": parse_time(str(facts.effective_at)),
                "recorded_at": parse_time(facts.recorded_at),
                "valid_until": datetime(2028, 1, 1, tzinfo=UTC),
            }
        latest = report.latest_checkpoint
        assert latest is not None
        model = answer_status(number, row, latest.size, None, NOW)
        # The same answer; only what the source knows of its checkpoint and where it looked differ.
        same = {k: v for k, v in verified.to_json().items() if k not in ("checkpoint", "reason")}
        assert {k: v for k, v in model.to_json().items() if k in same} == same
        assert model.checkpoint_size == verified.checkpoint_size
        assert (model.failure and model.failure.code) == (verified.failure and verified.failure.code)
