"""The process-pool mapper gives the same facts and the same report as the serial one."""

from __future__ import annotations

import os
import time

import pytest

from certlife.contracts.verification import VerificationError, verify_log
from certlife.services.partner.parallel import PoolResults, WorkerPool, pool_mapper
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _log() -> LogBuilder:
    b = LogBuilder()
    b.issue_many(40)
    b.checkpoint()
    b.rotate("k1")  # records after it can only be checked in workers with the announced key
    b.issue_many(40, "D")
    b.checkpoint()
    b.rotate("k2")
    b.issue_many(5, "E")
    return b


def test_pool_and_serial_reports_are_identical() -> None:
    b = _log()
    serial = verify_log(b.lines(), b.checkpoints, b.trust(), chunk_size=7)
    pooled = verify_log(b.lines(), b.checkpoints, b.trust(), chunk_size=7, mapper=pool_mapper(2, in_flight=3))
    assert pooled.to_json() == serial.to_json()
    assert pooled.checks["signature"] == len(b.records) and pooled.checks["key-record"] == 2


def test_pool_failure_stops_cleanly_with_the_same_failure() -> None:
    b = _log()
    lines = b.lines()
    del lines[100]
    with pytest.raises(VerificationError) as serial:
        verify_log(lines, b.checkpoints, b.trust(), chunk_size=5)
    with pytest.raises(VerificationError) as pooled:
        verify_log(lines, b.checkpoints, b.trust(), chunk_size=5, mapper=pool_mapper(2))
    assert pooled.value.failure == serial.value.failure
    assert pooled.value.failure.code == "index-gap"


def test_start_soon_does_the_work_here_until_the_workers_are_up_then_in_them() -> None:
    """The pool starts in the background; meanwhile work runs in this process (``/proc/self`` names it)."""
    here = str(os.getpid())
    pool = WorkerPool(2)
    pool.start_soon()
    try:
        assert not pool.parallel
        assert pool.submit(os.readlink, "/proc/self").result() == here
        deadline = time.monotonic() + 60
        while not pool.parallel and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pool.parallel
        assert pool.submit(os.readlink, "/proc/self").result() != here
    finally:
        pool.close()
    assert not pool.parallel


def test_close_right_after_start_soon_waits_for_the_start_and_stops_the_workers() -> None:
    pool = WorkerPool(2)
    pool.start_soon()
    pool.close()
    assert not pool.parallel


def test_results_closed_before_the_first_one_close_the_pool() -> None:
    pool = WorkerPool(2)
    pool.start()
    assert pool.parallel
    results = PoolResults(pool, pool.ordered(os.readlink, ["/proc/self"], 2))
    results.close()
    assert not pool.parallel


def test_a_bad_checkpoint_fails_the_same_with_the_pool_started_before_it_is_checked() -> None:
    b = _log()
    size, note = b.checkpoints[0]
    checkpoints = [(size, note.replace("\n\n", "\n\nx", 1)), *b.checkpoints[1:]]
    with pytest.raises(VerificationError) as serial:
        verify_log(b.lines(), checkpoints, b.trust(), chunk_size=5)
    with pytest.raises(VerificationError) as pooled:
        verify_log(b.lines(), checkpoints, b.trust(), chunk_size=5, mapper=pool_mapper(2))
    assert pooled.value.failure == serial.value.failure
    assert pooled.value.failure.code.startswith("checkpoint")
