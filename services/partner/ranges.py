"""Export logs read by the workers themselves: the parent plans byte ranges, workers pread them.

The parent never reads the log through: for each unit of work it reads one
window of at most ``limit + 1`` bytes, :data:`RANGE_BYTES` past the start of
the range, to find the newline that ends it. Each unit is ``(path, start,
end, key directory, check all signatures, origin, limit)`` (the verifier
learns the keys rotation records announce as it checks them). A worker reads
its range with ``pread``, splits it into lines exactly as
:func:`certlife.services.partner.limits.bounded_lines` does, runs
:func:`~certlife.contracts.verification.facts.runs_for_chunk` on them (lines
numbered from 1 within the range) and counts them, so line bytes never go
through a pipe and the log is read once; only the compact facts (runs of
packed rows) come back. :meth:`RangePlan.mapper` takes the results in order
and numbers their lines in the log (a record's position is its line
number); it also ends the log at an oversized line, a truncated last line or
``max_records``, as the streamed reader does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from certlife.contracts.records import MAX_RECORD_BYTES
from certlife.contracts.verification import KeyDirectory, LogVerifier
from certlife.contracts.verification.codes import ROW
from certlife.contracts.verification.engine import UnitMapper
from certlife.contracts.verification.facts import FastRun, RecordFacts, runs_for_chunk
from certlife.services.partner.limits import truncated_line
from certlife.services.partner.parallel import pool_mapper
from certlife.services.partner.sources import SourceError

#: Bytes of log per unit of work (then on to the end of the line there).
RANGE_BYTES = 2 << 20
#: ``(path, start, end, keys, check all signatures, origin, record limit)``.
RangeTask = tuple[str, int, int, KeyDirectory, bool, str, int]
#: What a worker returns for a range: the facts of its lines (numbered from 1 in the
#: range), how many lines they are, and why the log ends in it: None, or
#: ``("oversized" | "truncated", the line's number in the range)`` (that line has no facts).
RangeFacts = tuple[list[RecordFacts | FastRun], int, tuple[str, int] | None]

_NEWLINE = b"\n"
#: Bytes read at a time looking for the newline that ends a range: first (a record is about 1 KB), at most.
_FIRST_PROBE_BYTES, _PROBE_BYTES = 4 << 10, 64 << 10


def plan_ranges(
    path: str,
    *,
    range_bytes: int = RANGE_BYTES,
    max_records: int | None = None,
    advance: Callable[[int], None] | None = None,
    limit: int = MAX_RECORD_BYTES,
    oversized: Callable[[int], None] | None = None,
) -> RangePlan:
    """A planner (see :data:`~certlife.contracts.verification.engine.WorkPlanner`) over the lines of ``path``.

    Lines are what :func:`certlife.services.partner.limits.bounded_lines` yields: split
    at ``\\n`` only, numbered from 1. A line longer than ``limit`` ends the
    log after the lines before it: ``oversized`` is told its line number (see
    :class:`~certlife.services.partner.limits.RecordLimit`); without it,
    :class:`SourceError` is raised. So does a last line without its ``\\n``,
    once the lines before it are verified. ``max_records`` stops after that
    many lines; ``advance`` is told the bytes of each range as it is planned.
    Give :meth:`RangePlan.mapper` of the worker pool's mapper as the mapper.
    """
    return RangePlan(path, range_bytes, max_records, advance, limit, oversized)


class RangePlan:
    """Byte ranges of an export log for the workers, and their results numbered in log order."""

    def __init__(
        self,
        path: str,
        range_bytes: int,
        max_records: int | None,
        advance: Callable[[int], None] | None,
        limit: int,
        oversized: Callable[[int], None] | None,
    ) -> None:
        """See :func:`plan_ranges`."""
        self.path, self.range_bytes, self.max_records = path, max(1, range_bytes), max_records
        self.advance, self.limit, self.oversized = advance, limit, oversized
        #: Lines whose facts the mapper has passed on (planning stops at ``max_records``).
        self.lines = 0

    def __call__(self, verifier: LogVerifier) -> Iterator[RangeTask]:
        """The ranges, planned lazily (as the pool takes them), each ending at a newline or the file's end."""
        try:
            handle = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed below, in a generator
        except OSError as exc:
            why = (
                "log file not found" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc.strerror}"
            )
            raise SourceError(f"{self.path}: {why}") from None
        with handle:
            start = 0
            while self.max_records is None or self.lines < self.max_records:
                probe = start + self.range_bytes
                end, found = self._line_end(handle, probe)
                if found is None:  # a line over the limit runs through ``probe``: cut the range before it
                    line = self._line_start(handle, start, probe)
                    ranges = [(start, line)] if line > start else []
                    ranges.append((line, line + self.limit + 1))  # the worker finds it too long
                else:
                    ranges = [(start, end)] if end > start else []
                for first, last in ranges:
                    if self.advance is not None:
                        self.advance(last - first)
                    yield (
                        self.path, first, last, verifier.directory, verifier.check_all, verifier.origin, self.limit
                    )  # fmt: skip
                if not found:
                    return
                start = end

    def _line_end(self, handle: Any, probe: int) -> tuple[int, bool | None]:
        """Where the range through ``probe`` ends: just past the first newline from ``probe`` on (True),
        the file's end (False; its last line may lack its newline), or None: no newline in ``limit + 1`` bytes."""
        window, read, size = self.limit + 1, 0, _FIRST_PROBE_BYTES
        while read < window:
            block = self._read(handle, probe + read, min(size, window - read))
            size = min(2 * size, _PROBE_BYTES)
            if not block:  # the file ends here, or before ``probe``
                return min(probe + read, handle.seek(0, os.SEEK_END)), False
            cut = block.find(_NEWLINE)
            if cut >= 0:
                return probe + read + cut + 1, True
            read += len(block)
        return probe + read, None

    def _line_start(self, handle: Any, start: int, probe: int) -> int:
        """Where the line through ``probe`` starts (``start`` is a line's start): just past the last
        newline before ``probe``, read backwards in small blocks."""
        at = probe
        while at > start:
            size = min(_PROBE_BYTES, at - start)
            cut = self._read(handle, at - size, size).rfind(_NEWLINE)
            if cut >= 0:
                return at - size + cut + 1
            at -= size
        return start

    def _read(self, handle: Any, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of the log from ``offset``; a read error is a SourceError naming the log."""
        try:
            handle.seek(offset)
            data: bytes = handle.read(size)
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot read the log: {exc.strerror}") from None
        return data

    def mapper(self, inner: Callable[[Iterable[Any]], Iterator[RangeFacts]]) -> UnitMapper:
        """``inner`` (which runs :func:`batch_for_range` on this plan's ranges), its results numbered in the log."""

        def run(units: Iterable[Any]) -> Iterator[Sequence[RecordFacts | FastRun]]:
            return _Numbered(self, inner(units))

        return run

    def pooled(self, jobs: int) -> UnitMapper:
        """:meth:`mapper` of :func:`batch_for_range` in a worker pool of ``jobs`` processes."""
        return self.mapper(pool_mapper(jobs, worker=batch_for_range))

    def end(self, why: str, position: int) -> None:
        """The log ends at line ``position``: tell ``oversized``, or raise SourceError."""
        if why == "truncated":
            raise SourceError(truncated_line(self.path, position))
        if self.oversized is None:
            raise SourceError(f"{self.path}: line {position} is longer than {self.limit} bytes")
        self.oversized(position)


class _Numbered(Iterator[list[RecordFacts | FastRun]]):
    """Range results with their lines numbered in the log; ends where the log ends. Closing closes the results."""

    def __init__(self, plan: RangePlan, results: Iterator[RangeFacts]) -> None:
        self._plan, self._results, self._done = plan, results, False
        self._end: tuple[str, int] | None = None

    def __next__(self) -> list[RecordFacts | FastRun]:
        plan = self._plan
        if self._end is not None:  # the lines before it were passed on: now the log ends
            why, position = self._end
            self._end, self._done = None, True
            self.close()
            plan.end(why, position)
        if self._done or (plan.max_records is not None and plan.lines >= plan.max_records):
            raise StopIteration
        facts, count, end = next(self._results)
        before = plan.lines
        if plan.max_records is not None and before + count > plan.max_records:
            count, end = plan.max_records - before, None
            facts = _first(facts, count)
        plan.lines = before + count
        if end is not None:
            self._end = (end[0], end[1] + before)
        return [f._replace(position=f.position + before) for f in facts] if before else facts

    def close(self) -> None:
        """Stop the results (a pool's workers are stopped)."""
        close = getattr(self._results, "close", None)
        if close is not None:
            close()


def _first(facts: list[RecordFacts | FastRun], count: int) -> list[RecordFacts | FastRun]:
    """The facts of the first ``count`` lines (a run cut where they end)."""
    out: list[RecordFacts | FastRun] = []
    for item in facts:
        if count <= 0:
            break
        if type(item) is FastRun and item.size > count:
            out.append(_run_head(item, count))
            break
        out.append(item)
        count -= item.size if type(item) is FastRun else 1
    return out


def _run_head(run: FastRun, count: int) -> FastRun:
    def head(text: str) -> str:
        return "\n".join(text.split("\n")[:count])

    return run._replace(
        numbers=head(run.numbers),
        recorded=head(run.recorded),
        effective=head(run.effective),
        rows=run.rows[: count * ROW.size],
    )


def batch_for_range(task: RangeTask) -> RangeFacts:
    """Facts of every line of one planned range, numbered from 1 (the function the workers run)."""
    path, start, end, keys, check_signatures, origin, limit = task
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.pread(fd, end - start, start)
        finally:
            os.close(fd)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the log: {exc.strerror}") from None
    if len(data) != end - start:
        raise SourceError(f"{path}: the log changed while it was read")
    lines = data.split(_NEWLINE)
    tail = lines.pop()  # empty after the range's last newline; else a last line without one
    del data
    stop: tuple[str, int] | None = None
    if max(map(len, lines), default=0) > limit:
        at = next(i for i, line in enumerate(lines) if len(line) > limit)
        del lines[at:]
        stop = ("oversized", at + 1)
    elif tail:
        stop = ("oversized" if len(tail) > limit else "truncated", len(lines) + 1)
    facts = runs_for_chunk((enumerate(lines, 1), keys, check_signatures, origin))
    return facts, len(lines), stop
