"""Export logs read by the workers themselves: the parent plans byte ranges, workers pread them.

The parent reads ``log.jsonl`` in blocks of at most ``MAX_RECORD_BYTES + 1``
bytes only to cut them at a newline, count lines (a record's position is its
line number) and stop at an oversized line; each unit of work is ``(path,
start, end, first line number, key directory, check all signatures,
origin)`` (the verifier learns the keys rotation records announce as it
checks them). A worker reads
its range with ``pread``, splits it into lines exactly as
:func:`certlife.services.partner.limits.bounded_lines` does and runs
:func:`~certlife.contracts.verification.facts.runs_for_chunk`, so line bytes never go
through a pipe; only the compact facts (runs of packed rows) come back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from certlife.contracts.records import MAX_RECORD_BYTES
from certlife.contracts.verification import KeyDirectory, LogVerifier
from certlife.contracts.verification.facts import FastRun, RecordFacts, runs_for_chunk
from certlife.services.partner.limits import truncated_line
from certlife.services.partner.sources import SourceError

#: Bytes of log per unit of work (cut back to the last newline in it).
RANGE_BYTES = 2 << 20
#: ``(path, start, end, first line number, keys, check all signatures, origin)``.
RangeTask = tuple[str, int, int, int, KeyDirectory, bool, str]

_NEWLINE = b"\n"


def _cut(block: bytes, lines: int) -> int:
    """Offset just past the ``lines``-th newline of ``block`` (it has at least that many)."""
    at = -1
    for _ in range(lines):
        at = block.find(_NEWLINE, at + 1)
    return at + 1


def plan_ranges(
    path: str,
    *,
    range_bytes: int = RANGE_BYTES,
    max_records: int | None = None,
    advance: Callable[[int], None] | None = None,
    limit: int = MAX_RECORD_BYTES,
    oversized: Callable[[int], None] | None = None,
) -> Callable[[LogVerifier], Iterator[RangeTask]]:
    """A planner (see :data:`~certlife.contracts.verification.engine.WorkPlanner`) over the lines of ``path``.

    Lines are what :func:`certlife.services.partner.limits.bounded_lines` yields: split
    at ``\\n`` only, numbered from 1. The file is read in blocks of at most
    ``limit + 1`` bytes, each starting at a line, so no more than that of one
    line is ever in memory. A line longer than ``limit`` ends the plan after
    the ranges before it: ``oversized`` is told its line number (see
    :class:`~certlife.services.partner.limits.RecordLimit`). A last line without its
    ``\\n`` raises :class:`SourceError` once the ranges before it are
    planned. ``max_records`` stops after that many lines; ``advance`` is told
    the bytes of each range.
    """

    def plan(verifier: LogVerifier) -> Iterator[RangeTask]:
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below, in a generator
        except OSError as exc:
            why = (
                "log file not found" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc.strerror}"
            )
            raise SourceError(f"{path}: {why}") from None

        def task(start: int, end: int, first: int) -> RangeTask:
            if advance is not None:
                advance(end - start)
            return (path, start, end, first, verifier.directory, verifier.check_all, verifier.origin)

        block_bytes = min(range_bytes, limit + 1)
        with handle:
            start = offset = 0  # the range being planned is [start, offset)
            first = position = 1  # line numbers of its first line and of the next line
            size, problem = block_bytes, None
            while max_records is None or position <= max_records:
                try:
                    handle.seek(offset)
                    block = handle.read(size)
                except OSError as exc:
                    raise SourceError(f"{path}: cannot read the log: {exc.strerror}") from None
                if not block:
                    break
                end = block.rfind(_NEWLINE) + 1
                if end == 0:  # the line at ``offset`` has no newline in ``block``
                    if len(block) > limit:
                        problem = "oversized"
                    elif len(block) == size:  # one line longer than a block: read more of it
                        size = limit + 1
                        continue
                    else:
                        problem = "truncated"
                    break
                lines = block.count(_NEWLINE, 0, end)
                if max_records is not None and position + lines > max_records + 1:
                    lines = max_records + 1 - position
                    end = _cut(block, lines)
                offset, position, size = offset + end, position + lines, block_bytes
                if offset - start >= range_bytes:
                    yield task(start, offset, first)
                    start, first = offset, position
            if offset > start:
                yield task(start, offset, first)
            if problem == "oversized":
                if oversized is None:
                    raise SourceError(f"{path}: line {position} is longer than {limit} bytes")
                oversized(position)
            elif problem == "truncated":
                raise SourceError(truncated_line(path, position))

    return plan


def batch_for_range(task: RangeTask) -> list[RecordFacts | FastRun]:
    """Facts of every line of one planned range (the function the workers run)."""
    path, start, end, first, keys, check_signatures, origin = task
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.pread(fd, end - start, start)
        finally:
            os.close(fd)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the log: {exc.strerror}") from None
    if len(data) != end - start or not data.endswith(_NEWLINE):
        raise SourceError(f"{path}: the log changed while it was read")
    lines = data.split(_NEWLINE)
    lines.pop()  # the empty piece after the range's last newline
    return runs_for_chunk((enumerate(lines, first), keys, check_signatures, origin))
