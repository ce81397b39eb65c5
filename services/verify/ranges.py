"""Export logs read by the workers themselves: the parent plans byte ranges, workers pread them.

The parent reads ``log.jsonl`` in large blocks only to cut them at a newline,
count lines (a record's position is its line number) and learn the keys that
rotation records announce; each unit of work is ``(path, start, end, first
line number, key directory, check all signatures, origin)``. A worker reads
its range with ``pread``, splits it into lines exactly as
:func:`services.export.read_log_lines` does and runs
:func:`~contracts.verification.facts.batch_for_chunk`, so line bytes never go
through a pipe; only the compact facts come back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from contracts.verification import KeyDirectory, LogVerifier
from contracts.verification.facts import CompactFacts, RecordFacts, batch_for_chunk
from services.verify.sources import SourceError

#: Bytes of log per unit of work (cut back to the last newline in it).
RANGE_BYTES = 2 << 20
#: ``(path, start, end, first line number, keys, check all signatures, origin)``.
RangeTask = tuple[str, int, int, int, KeyDirectory, bool, str]

_ROTATION_MARK = b'"newKey"'
_NEWLINE = b"\n"


def _announce(verifier: LogVerifier, block: bytes, end: int) -> None:
    """Show the verifier every line of ``block[:end]`` that may be a rotation record, in order."""
    at = block.find(_ROTATION_MARK, 0, end)
    while at >= 0:
        start = block.rfind(_NEWLINE, 0, at) + 1
        stop = block.find(_NEWLINE, at, end)
        stop = end if stop < 0 else stop
        verifier.announce(block[start:stop])
        at = block.find(_ROTATION_MARK, stop, end)


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
) -> Callable[[LogVerifier], Iterator[RangeTask]]:
    """A planner (see :data:`~contracts.verification.engine.WorkPlanner`) over the lines of ``path``.

    Lines are what :func:`services.export.read_log_lines` yields: split at
    ``\\n`` only, numbered from 1. A last line without its ``\\n`` raises
    :class:`SourceError` (as that reader's ``ExportError`` does through the
    export source) once the ranges before it are planned. ``max_records``
    stops after that many lines; ``advance`` is told the bytes of each range.
    """

    def plan(verifier: LogVerifier) -> Iterator[RangeTask]:
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below, in a generator
        except OSError as exc:
            why = (
                "log file not found" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc.strerror}"
            )
            raise SourceError(f"{path}: {why}") from None
        with handle:
            offset, position, size = 0, 1, range_bytes
            while max_records is None or position <= max_records:
                try:
                    handle.seek(offset)
                    block = handle.read(size)
                except OSError as exc:
                    raise SourceError(f"{path}: cannot read the log: {exc.strerror}") from None
                if not block:
                    return
                end = block.rfind(_NEWLINE) + 1
                if end == 0:
                    if len(block) == size:  # one line longer than a range: read more of it
                        size *= 2
                        continue
                    raise SourceError(f"{path}: line {position} does not end in a newline (truncated file?)")
                lines = block.count(_NEWLINE, 0, end)
                if max_records is not None and position + lines > max_records + 1:
                    lines = max_records + 1 - position
                    end = _cut(block, lines)
                _announce(verifier, block, end)
                yield (
                    path,
                    offset,
                    offset + end,
                    position,
                    verifier.directory,
                    verifier.check_all,
                    verifier.origin,
                )
                if advance is not None:
                    advance(end)
                offset, position, size = offset + end, position + lines, range_bytes

    return plan


def batch_for_range(task: RangeTask) -> list[RecordFacts | CompactFacts]:
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
    return batch_for_chunk((enumerate(lines, first), keys, check_signatures, origin))
