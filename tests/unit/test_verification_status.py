"""``certificate_status``: the answer, what it rests on, and when it must be ``unknown``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certlife.contracts.verification import UNKNOWN, certificate_status, parse_time, verify_log
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
