"""Warnings and errors once per cause per interval, with the count of those dropped."""

from __future__ import annotations

import logging

import pytest

from certlife.services.infra.logrepeat import RepeatFilter

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, *args: object, level: int = logging.ERROR, name: str = "aiokafka", exc: bool = False):
    exc_info = None
    if exc:
        try:
            raise ConnectionRefusedError("refused")
        except ConnectionRefusedError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def _error(exc: Exception) -> object:
    try:
        raise exc
    except Exception:
        import sys

        return sys.exc_info()


def test_a_cause_repeated_every_attempt_is_one_line_per_interval_with_a_count() -> None:
    clock = Clock()
    repeat = RepeatFilter(30, clock)
    passed = []
    for attempt in range(600):  # a 60 s outage, ten attempts a second
        clock.now = attempt / 10
        record = _record("Unable connect to node with id %s: %s", 1, f"attempt {attempt}")
        record.exc_info = _error(ValueError("bad"))
        if repeat.filter(record):
            passed.append(record)
    assert len(passed) == 2
    assert passed[0].exc_info is not None  # the first shows its traceback
    again = passed[1]
    assert again.getMessage().endswith("[and 299 more like it in the last 30 s]")
    assert again.exc_info is None  # shown once already


def test_causes_are_told_apart_and_quiet_lines_always_pass() -> None:
    repeat = RepeatFilter(30, Clock())
    assert repeat.filter(_record("batch failed: %s", "a"))
    assert repeat.filter(_record("batch failed: %s", "b"))  # another message: another cause
    assert repeat.filter(_record("batch of %d failed at %s", 3, "offset 17"))
    assert not repeat.filter(_record("batch of %d failed at %s", 5, "offset 18"))  # only numbers differ
    assert repeat.filter(_record("other failure"))
    assert repeat.filter(_record("batch failed: %s", "a", name="certlife.relay"))
    assert repeat.filter(_record("batch failed: %s", "a", level=logging.WARNING))
    assert repeat.filter(_record("batch failed: %s", "a", exc=True))  # another exception type
    for _ in range(5):
        assert repeat.filter(_record("applied %d", 3, level=logging.INFO))


def test_an_outage_exception_is_named_in_the_line_instead_of_a_traceback() -> None:
    repeat = RepeatFilter(30, Clock())
    record = _record("pool failed for %s", "x%y", exc=True)
    assert repeat.filter(record)
    assert record.exc_info is None
    assert record.getMessage() == ("pool failed for x%y: lost a connection (ConnectionRefusedError: refused)")
    bare = _record("100% of the pool failed", exc=True, name="other")
    assert repeat.filter(bare)
    assert bare.getMessage() == "100% of the pool failed: lost a connection (ConnectionRefusedError: refused)"
    bug = _record("bug")
    bug.exc_info = _error(KeyError("k"))
    assert repeat.filter(bug) and bug.exc_info is not None  # a bug keeps its traceback


def test_audit_lines_always_pass() -> None:
    from certlife.services.infra.logrepeat import AUDIT

    repeat = RepeatFilter(30, Clock())
    for _ in range(3):
        record = _record("refused %s", "x", level=logging.WARNING, name="certlife.witness")
        record.__dict__.update(AUDIT)
        assert repeat.filter(record)
