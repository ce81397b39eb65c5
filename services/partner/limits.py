"""Size limits of what ``certverify`` reads: fail fast, with bounded memory, on oversized input.

A record is at most :data:`~certlife.contracts.records.MAX_RECORD_BYTES` (1 MiB, its
newline excluded). Export lines are read in bounded blocks, so a line is
never held beyond ``limit + 1`` bytes; a longer record (an export line, a
Kafka message) ends the record stream, and :class:`RecordLimit` turns it into
a ``record-too-large`` verification failure at its input position — unless an
earlier record already failed. Whole files (bundles, checkpoints, record
files) are read with :func:`read_bounded`, which never reads past its limit.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator

from certlife.contracts.records import MAX_RECORD_BYTES
from certlife.contracts.verification import VerificationError, VerificationReport
from certlife.contracts.verification.failures import fail
from certlife.services.partner.inputs import SourceError

#: Most bytes :func:`bounded_lines` asks the operating system for at once.
_BLOCK = 256 << 10
_NEWLINE = b"\n"


def read_prefix(path: str, what: str, size: int, *, refuse_larger: bool = False) -> bytes:
    """Read at most the first ``size`` bytes of a file or raise SourceError naming it.

    With ``refuse_larger``, a regular file of more than ``size - 1`` bytes is
    refused without being read (:func:`read_bounded`).
    """
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            want = size
            if stat.S_ISREG(info.st_mode):
                if refuse_larger and info.st_size >= size:
                    raise _too_large(path, what, size - 1)
                want = min(size, info.st_size + 1)  # read(n) allocates n bytes up front
            data = handle.read(want)
            if len(data) == want < size:  # it grew since fstat (or reports no size): read on
                data += handle.read(size - want)
            return data
    except FileNotFoundError:
        raise SourceError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read {what}: {exc.strerror}") from None
    except ValueError:  # a NUL in the name
        raise SourceError(f"{path}: not a valid name for the {what}") from None


def _too_large(path: str, what: str, limit: int) -> SourceError:
    return SourceError(f"{path}: {what} is larger than {limit} bytes ({describe_size(limit)}); not read")


def read_bounded(path: str, what: str, limit: int) -> bytes:
    """Read a whole file of at most ``limit`` bytes or raise SourceError; a larger one is not read.

    A regular file's size is checked first; anything else (a pipe) is read
    up to ``limit + 1`` bytes at most.
    """
    data = read_prefix(path, what, limit + 1, refuse_larger=True)
    if len(data) > limit:
        raise _too_large(path, what, limit)
    return data


def describe_size(size: int) -> str:
    """``1 MiB``, ``16 MiB``, ``512 KiB`` or ``N bytes``."""
    for shift, unit in ((20, "MiB"), (10, "KiB")):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


def truncated_line(path: str, number: int) -> str:
    """The message of a last line without its newline (the same for every export reader)."""
    return f"{path}: line {number} does not end in a newline (truncated file?)"


def bounded_lines(path: str, limit: int = MAX_RECORD_BYTES) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line number, bytes)`` of ``path`` split at ``\\n``, numbered from 1.

    At most ``limit + 1`` bytes of input are buffered at a time. A line longer
    than ``limit`` is yielded cut to ``limit + 1`` bytes and ends the lines
    (the rest of the file is not read). A last line without its ``\\n`` is
    yielded, then :class:`~certlife.services.partner.inputs.SourceError` is raised (a
    truncated file).
    """
    try:
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below, in a generator
    except OSError as exc:
        why = "log file not found" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc.strerror}"
        raise SourceError(f"{path}: {why}") from None
    with handle:
        number, tail = 1, b""
        while True:
            try:
                data = handle.read(min(_BLOCK, limit + 1 - len(tail)))
            except OSError as exc:
                raise SourceError(f"{path}: cannot read the log: {exc.strerror}") from None
            if not data:
                break
            lines = (tail + data if tail else data).split(_NEWLINE)
            del data
            tail = lines.pop()
            for line in lines:
                yield number, line
                number += 1
            if len(tail) > limit:
                yield number, tail
                return
        if tail:
            yield number, tail
            raise SourceError(truncated_line(path, number))


class RecordLimit:
    """Ends a record stream at its first record over ``limit`` bytes and fails there, in order.

    Wrap the records with :meth:`records` (or have a planner call :meth:`trip`)
    and run the verification through :meth:`verify`. Records before the
    oversized one are verified as usual, so an earlier failure is still the
    one reported; otherwise the result is a ``record-too-large`` failure at the
    oversized record's input position.
    """

    #: The failures of verify_log's end steps, which the missing rest of the log would cause.
    END_CODES = frozenset({"log-truncated"})

    def __init__(self, limit: int = MAX_RECORD_BYTES) -> None:
        self.limit = limit
        #: Input position of the first oversized record, once seen.
        self.position: int | None = None

    def trip(self, position: int) -> None:
        """Note that the record at input ``position`` is over the limit (nothing after it is read)."""
        if self.position is None:
            self.position = position

    def records(self, items: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
        """``items`` up to (not including) the first record longer than the limit."""
        for position, raw in items:
            if len(raw) > self.limit:
                self.trip(position)
                return
            yield position, raw

    def verify(self, run: Callable[[], VerificationReport]) -> VerificationReport:
        """Run a verification over wrapped records; fail at the oversized record if one was seen."""
        try:
            report = run()
        except VerificationError as exc:
            if self.position is None or exc.failure.code not in self.END_CODES:
                raise
            report = exc.report
        if self.position is None:
            return report
        error = fail(
            "record-too-large",
            f"record is longer than {self.limit} bytes ({describe_size(self.limit)}, the record limit); "
            "it and the rest of the input were not read",
            position=self.position,
        )
        if isinstance(report, VerificationReport):
            report.failure = error.failure
            error.report = report
        raise error
