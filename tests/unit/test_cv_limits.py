"""certverify's size limits: an oversized record fails fast, in order, with bounded memory.

A record (export line, Kafka message, record file) over ``MAX_RECORD_BYTES``
fails ``record-too-large`` at its input position (exit 1) without being read
whole; oversized bundles, checkpoints and known checkpoints are refused unread
(exit 2). The memory tests write a 50 MB line (a sparse file, cheap) and
check the peak stays below three times the limit over a baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from certlife.contracts.bundle import MAX_BUNDLE_SIZE
from certlife.contracts.notes import MAX_NOTE_SIZE
from certlife.contracts.records import MAX_RECORD_BYTES
from certlife.contracts.verification import VerificationError, VerificationReport, verify_log
from certlife.services.partner.certverify import main
from certlife.services.partner.limits import RecordLimit, bounded_lines, read_bounded
from certlife.services.partner.ranges import RangeFacts, batch_for_range, plan_ranges
from certlife.services.partner.sources import LogSource, SourceError, open_source
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
BIG = 50_000_000  # bytes of the oversized line
MiB = 1 << 20


def _log() -> LogBuilder:
    b = LogBuilder()
    b.issue_many(20)
    b.checkpoint()
    b.rotate("k1")
    b.issue_many(20, "D")
    b.checkpoint()
    return b


def _export(directory: Path, b: LogBuilder, lines: list[bytes]) -> Path:
    b.write_export(directory)
    (directory / "log.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    return directory


def _with_big_line(directory: Path, b: LogBuilder, before: int, size: int = BIG) -> Path:
    """An export whose line ``before + 1`` is ``size`` zero bytes (a hole: no disk, no memory to write)."""
    b.write_export(directory)
    log = directory / "log.jsonl"
    with open(log, "wb") as handle:
        handle.write(b"".join(raw + b"\n" for raw in b.records[:before]))
        start = handle.tell()
        handle.truncate(start + size)
        handle.seek(start + size)
        handle.write(b"\n" + b"".join(raw + b"\n" for raw in b.records[before:]))
    return directory


def _serial(units: Iterable[Any]) -> Iterator[RangeFacts]:
    return map(batch_for_range, units)


def _outcome(run: Callable[[], VerificationReport]) -> tuple[str, Any]:
    try:
        report = run()
    except VerificationError as exc:
        return "failed", exc.failure
    except SourceError as exc:
        return "source", str(exc)
    return "ok", report.to_json()


def _both(directory: Path, b: LogBuilder, limit: int, range_bytes: int) -> tuple[str, Any]:
    """Verify streamed lines and planned ranges under a record ``limit``; they must agree."""
    source = open_source(str(directory))
    assert source.log_path is not None
    streamed_limit = RecordLimit(limit)
    streamed = _outcome(
        lambda: streamed_limit.verify(
            lambda: verify_log(
                streamed_limit.records(bounded_lines(source.log_path or "", limit)),
                b.checkpoints,
                b.trust(),
                chunk_size=4,
            )
        )
    )
    ranged_limit = RecordLimit(limit)
    planner = plan_ranges(source.log_path, range_bytes=range_bytes, limit=limit, oversized=ranged_limit.trip)
    ranged = _outcome(
        lambda: ranged_limit.verify(
            lambda: verify_log((), b.checkpoints, b.trust(), mapper=planner.mapper(_serial), planner=planner)
        )
    )
    assert ranged == streamed
    return streamed


# --- the line readers ------------------------------------------------------------------------


def test_bounded_lines_cut_an_oversized_line_and_stop(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a\n" + b"x" * 10 + b"\n" + b"y" * 11 + b"\nnever read\n")
    assert list(bounded_lines(str(path), 10)) == [(1, b"a"), (2, b"x" * 10), (3, b"y" * 11)]
    path.write_bytes(b"a\n" + b"z" * 50)  # an oversized last line without its newline: oversized first
    assert list(bounded_lines(str(path), 10)) == [(1, b"a"), (2, b"z" * 11)]
    path.write_bytes(b"a\nbc")
    lines = bounded_lines(str(path), 10)
    assert next(lines) == (1, b"a") and next(lines) == (2, b"bc")
    with pytest.raises(SourceError, match="line 2 does not end in a newline"):
        next(lines)


@pytest.mark.parametrize("range_bytes", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("where", ["first", "middle", "last", "last-no-newline", "none"])
def test_streamed_and_ranged_agree_on_an_oversized_line(tmp_path: Path, range_bytes: int, where: str) -> None:
    b = _log()
    limit = max(len(raw) for raw in b.records)  # every record fits exactly
    lines = list(b.records)
    big = b"{" + b"x" * limit
    if where == "first":
        lines.insert(0, big)
    elif where == "middle":
        lines.insert(25, big)
    elif where in ("last", "last-no-newline"):
        lines.append(big)
    directory = _export(tmp_path, b, lines)
    if where == "last-no-newline":
        log = directory / "log.jsonl"
        log.write_bytes(log.read_bytes()[:-1])
    kind, failure = _both(directory, b, limit, range_bytes)
    if where == "none":
        assert kind == "ok"
        return
    position = {"first": 1, "middle": 26}.get(where, len(lines))
    assert kind == "failed" and (failure.code, failure.position) == ("record-too-large", position)
    assert f"longer than {limit} bytes" in failure.message


def test_an_earlier_failure_is_reported_before_the_oversized_line(tmp_path: Path) -> None:
    b = _log()
    limit = max(len(raw) for raw in b.records) + 1
    lines = list(b.records)
    lines[10] = lines[10].replace(b'"holder":"', b'"holder":"X', 1)  # a bad signature
    lines.insert(30, b"x" * (limit + 1))
    kind, failure = _both(_export(tmp_path, b, lines), b, limit, 500)
    assert kind == "failed" and (failure.code, failure.index) == ("bad-signature", 10)


def test_oversized_line_is_reported_instead_of_the_truncation_it_causes(tmp_path: Path) -> None:
    """Below the newest checkpoint, stopping early would look like ``log-truncated``: it must not."""
    b = _log()
    limit = max(len(raw) for raw in b.records)
    lines = [*b.records[:5], b"x" * (limit + 1), *b.records[5:]]
    kind, failure = _both(_export(tmp_path, b, lines), b, limit, 900)
    assert kind == "failed" and (failure.code, failure.position) == ("record-too-large", 6)


def test_read_bounded_refuses_a_larger_file_unread(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 11)
    assert read_bounded(str(path), "thing", 11) == b"x" * 11
    with pytest.raises(SourceError, match="thing is larger than 10 bytes"):
        read_bounded(str(path), "thing", 10)


# --- the command line: codes, exit statuses and memory ----------------------------------------


def _main_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert out.count("\n") == 1, out[:2000]
    return code, json.loads(out), err


def _traced_peak(run: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``run``; return its result and the peak of Python memory it allocated on top."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = run()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_50mb_line_fails_fast_with_bounded_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    import certlife.services.partner.parallel
    import certlife.services.partner.ranges

    assert (
        certlife.services.partner.parallel and certlife.services.partner.ranges
    )  # imported before tracing starts

    b = _log()
    good = _export(tmp_path / "good", b, b.records)
    trust = str(good / "trust.json")
    assert _main_json(capsys, "log", str(good), "--trust", trust, "--jobs", jobs)[0] == 0  # warm-up
    bad = _with_big_line(tmp_path / "bad", b, before=30)
    (code, report, err), peak = _traced_peak(
        lambda: _main_json(capsys, "log", str(bad), "--trust", trust, "--jobs", jobs)
    )
    assert code == 1 and err == ""
    failure = report["failure"]
    assert (failure["code"], failure["check"], failure["position"]) == ("record-too-large", "canonical", 31)
    assert report["records"] == 30  # the records before it were verified
    assert peak < 3 * MAX_RECORD_BYTES, f"peak {peak} bytes for a {BIG}-byte line"


def test_a_50mb_line_peak_rss_of_the_certverify_process(tmp_path: Path) -> None:
    """The whole process (subprocess, ``getrusage``): the 50 MB line adds < 3 MiB + slack to its peak."""
    b = _log()
    good = _export(tmp_path / "good", b, b.records)
    bad = _with_big_line(tmp_path / "bad", b, before=30)
    probe = (
        "import json, resource, sys\n"
        "from certlife.services.partner.certverify import main\n"
        "code = main(json.loads(sys.argv[1]))\n"
        "sys.stdout.flush()\n"
        "print(json.dumps([code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))\n"
    )

    def rss(directory: Path) -> tuple[int, int]:
        argv = ["log", str(directory), "--trust", str(good / "trust.json"), "--jobs", "1", "--json"]
        result = subprocess.run(
            [sys.executable, "-c", probe, json.dumps(argv)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        code, kib = json.loads(result.stdout.strip().splitlines()[-1])
        return code, kib * 1024

    base_code, base = rss(good)
    code, peak = rss(bad)
    assert (base_code, code) == (0, 1)
    assert peak - base < 3 * MAX_RECORD_BYTES + 8 * MiB, f"{peak - base} bytes over the baseline"


def test_record_file_over_the_limit_fails_record_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = _log()
    b.write_export(tmp_path)
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(BIG)
    (code, report, _), peak = _traced_peak(
        lambda: _main_json(capsys, "record", str(big), "--trust", str(tmp_path / "trust.json"))
    )
    assert code == 1 and report["failure"]["code"] == "record-too-large"
    assert "record limit" in report["failure"]["message"] and peak < 3 * MAX_RECORD_BYTES
    exact = tmp_path / "exact.json"  # a record of exactly the limit, with its newline: not too large
    exact.write_bytes(b"x" * MAX_RECORD_BYTES + b"\n")
    code, report, _ = _main_json(capsys, "record", str(exact), "--trust", str(tmp_path / "trust.json"))
    assert code == 1 and report["failure"]["code"] == "not-json"


def test_oversized_kafka_message_fails_at_its_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    b = _log()
    b.write_export(tmp_path)
    messages = [(offset, raw) for offset, raw in enumerate(b.records)]
    messages.insert(12, (12, b"x" * (MAX_RECORD_BYTES + 1)))
    messages = [(offset, raw) for offset, (_, raw) in enumerate(messages)]

    def fake_open(spec: str) -> LogSource:
        return LogSource(spec, iter(messages), list(b.checkpoints), len(messages), "rec")

    monkeypatch.setattr("certlife.services.partner.commands.open_source", fake_open)
    argv = ["log", "kafka://127.0.0.1:1", "--trust", str(tmp_path / "trust.json"), "--jobs", "1"]
    code, report, _ = _main_json(capsys, *argv)
    assert code == 1 and (report["failure"]["code"], report["failure"]["position"]) == (
        "record-too-large",
        12,
    )


@pytest.mark.parametrize(
    ("what", "size"),
    [("bundle", MAX_BUNDLE_SIZE + 1), ("known", MAX_NOTE_SIZE + 1), ("checkpoint", MAX_NOTE_SIZE + 1)],
)
def test_oversized_files_are_refused_unread_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str, size: int
) -> None:
    b = _log()
    export = _export(tmp_path / "export", b, b.records)
    trust = str(export / "trust.json")
    big = export / "checkpoints" / "99" if what == "checkpoint" else tmp_path / "big"
    with open(big, "wb") as handle:
        handle.truncate(size)
    argv = {
        "bundle": ["proof", str(big), "--trust", trust],
        "known": ["log", str(export), "--trust", trust, "--known-checkpoint", str(big)],
        "checkpoint": ["log", str(export), "--trust", trust],
    }[what]
    (code, out, err), peak = _traced_peak(lambda: (main(argv), *capsys.readouterr()))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("certverify: error: ") and "larger than" in err
    assert peak < 3 * MAX_RECORD_BYTES and os.path.getsize(big) == size
