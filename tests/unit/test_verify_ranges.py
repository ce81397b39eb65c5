"""Workers reading byte ranges of ``log.jsonl`` give the same report or failure as streamed lines."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from certlife.contracts.verification import VerificationError, VerificationReport, verify_log
from certlife.services.partner.parallel import pool_mapper
from certlife.services.partner.ranges import RangeFacts, batch_for_range, plan_ranges
from certlife.services.partner.sources import SourceError, open_source
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _log() -> LogBuilder:
    b = LogBuilder()
    b.issue_many(30)
    b.checkpoint()
    b.rotate("k1")  # records after it are checked in workers with the announced key
    b.issue_many(30, "D")
    b.checkpoint()
    return b


def _serial(units: Iterable[Any]) -> Iterator[RangeFacts]:
    return map(batch_for_range, units)


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        report: VerificationReport = run()
    except VerificationError as exc:
        return "failed", exc.failure
    except SourceError as exc:
        return "source", str(exc)
    return "ok", report.to_json()


def _both(directory: Path, b: LogBuilder, range_bytes: int, mapper: Any = _serial) -> None:
    source = open_source(str(directory))
    assert source.log_path is not None
    streamed = _outcome(lambda: verify_log(source.records, b.checkpoints, b.trust(), chunk_size=4))
    planner = plan_ranges(source.log_path, range_bytes=range_bytes)
    ranged = _outcome(
        lambda: verify_log((), b.checkpoints, b.trust(), mapper=planner.mapper(mapper), planner=planner)
    )
    assert ranged == streamed
    return None


def _write(tmp_path: Path, b: LogBuilder, body: bytes) -> Path:
    b.write_export(tmp_path)
    (tmp_path / "log.jsonl").write_bytes(body)
    return tmp_path


@pytest.mark.parametrize("range_bytes", [1, 700, 5000, 1 << 20])
def test_intact_log_same_report(tmp_path: Path, range_bytes: int) -> None:
    b = _log()
    directory = _write(tmp_path, b, b"".join(raw + b"\n" for raw in b.records))
    _both(directory, b, range_bytes)


@pytest.mark.parametrize(
    "tamper",
    ["duplicate", "crlf", "empty", "truncated", "blank-end", "missing"],
)
@pytest.mark.parametrize("range_bytes", [1, 900, 1 << 20])
def test_tampered_log_same_failure(tmp_path: Path, tamper: str, range_bytes: int) -> None:
    b = _log()
    lines = [raw + b"\n" for raw in b.records]
    if tamper == "duplicate":
        lines.insert(20, lines[19])
    elif tamper == "crlf":
        lines[33] = lines[33][:-1] + b"\r\n"
    elif tamper == "empty":
        lines.insert(12, b"\n")
    elif tamper == "truncated":
        lines[-1] = lines[-1][:-1]
    elif tamper == "blank-end":
        lines.append(b"\n")
    else:
        del lines[40]
    _both(_write(tmp_path, b, b"".join(lines)), b, range_bytes)


def test_pool_reads_ranges_itself(tmp_path: Path) -> None:
    b = _log()
    lines = [raw + b"\n" for raw in b.records]
    lines.insert(45, lines[44])
    _both(_write(tmp_path, b, b"".join(lines)), b, 3000, pool_mapper(2, worker=batch_for_range))


def test_max_records_stops_at_that_line(tmp_path: Path) -> None:
    b = _log()
    directory = _write(tmp_path, b, b"".join(raw + b"\n" for raw in b.records))
    planner = plan_ranges(str(directory / "log.jsonl"), range_bytes=5000, max_records=25)
    report = verify_log((), [], b.trust(), mapper=planner.mapper(_serial), planner=planner)
    assert report.records == 25 and report.inputs == 25


class _CountingFile:
    """A file whose reads are counted (what the planner reads of the log)."""

    def __init__(self, handle: Any, counts: list[int]) -> None:
        self._handle, self._counts = handle, counts

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def seek(self, *args: int) -> int:
        return int(self._handle.seek(*args))

    def read(self, size: int) -> bytes:
        data: bytes = self._handle.read(size)
        self._counts.append(len(data))
        return data


def test_the_parent_reads_only_around_range_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner reads a little at each range's end, not the log (the workers read it, once)."""
    import certlife.services.partner.ranges as ranges

    line = b'{"x":"' + b"y" * 990 + b'"}\n'
    path = tmp_path / "log.jsonl"
    path.write_bytes(line * 3000)  # about 3 MB
    counts: list[int] = []

    def counting_open(*args: Any, **kwargs: Any) -> _CountingFile:
        return _CountingFile(open(*args, **kwargs), counts)

    monkeypatch.setattr(ranges, "open", counting_open, raising=False)

    class Verifier:
        directory, check_all, origin = None, False, "o"

    plan = plan_ranges(str(path), range_bytes=64 << 10)
    units = list(plan(cast(Any, Verifier())))
    assert sum(counts) < path.stat().st_size // 10, sum(counts)
    spans = [(u[1], u[2]) for u in units]
    assert spans[0][0] == 0 and spans[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # no gap, no overlap
    data = path.read_bytes()
    assert all(data[end - 1 : end] == b"\n" for _, end in spans)
    results = [batch_for_range(u) for u in units]
    assert sum(count for _, count, _ in results) == 3000
    numbered = list(plan.mapper(lambda us: iter(results))([]))
    positions = [f.position + t for facts in numbered for f in facts for t in range(getattr(f, "size", 1))]  # type: ignore[union-attr]
    assert positions == list(range(1, 3001))
