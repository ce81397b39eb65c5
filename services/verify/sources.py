"""Where a log comes from: an export directory or ``kafka://HOST:PORT``; the trust file.

Every problem reading a source becomes :class:`SourceError` (exit code 2):
it is an input/output error, not a verification failure.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from contracts.trust import TrustFile
from contracts.verification import CheckpointInput

KAFKA_SCHEME = "kafka://"
#: Below this many bytes (or records) of log, workers cost more than they save.
SERIAL_BELOW_BYTES = 4 << 20
SERIAL_BELOW_RECORDS = 5000


class SourceError(Exception):
    """A source, trust file or input file that cannot be read (one line, exit code 2)."""


@dataclass
class LogSource:
    """Records as ``(position, bytes)`` plus checkpoint notes, and how big the log is."""

    name: str
    records: Iterable[tuple[int, bytes]]
    checkpoints: list[CheckpointInput]
    total: int
    unit: str  # "B" when ``total`` counts bytes, "rec" when it counts records
    #: ``DIR/log.jsonl`` of an export directory (workers may read it themselves), else None.
    log_path: str | None = None

    @property
    def small(self) -> bool:
        """True when the log is too small to be worth a worker pool."""
        limit = SERIAL_BELOW_BYTES if self.unit == "B" else SERIAL_BELOW_RECORDS
        return self.total < limit


def read_trust_file(path: str) -> TrustFile:
    """Read ``trust.json`` or raise SourceError."""
    from services.export import ExportError, read_trust

    try:
        return read_trust(path)
    except ExportError as exc:
        raise SourceError(str(exc)) from None


def read_bytes(path: str, what: str) -> bytes:
    """Read a whole input file or raise SourceError naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read {what}: {exc.strerror}") from None


def _export_lines(directory: str) -> Iterator[tuple[int, bytes]]:
    from services.export import ExportError, read_log_lines

    try:
        yield from read_log_lines(directory)
    except ExportError as exc:
        raise SourceError(str(exc)) from None
    except OSError as exc:
        raise SourceError(f"{directory}: cannot read the log: {exc.strerror}") from None


def open_source(spec: str) -> LogSource:
    """Open an export directory or a ``kafka://`` URL (checkpoints are read at once)."""
    if spec.startswith(KAFKA_SCHEME):
        from services.verify.kafka_source import open_kafka

        return open_kafka(spec)
    from services.export import LOG_FILE, ExportError, read_checkpoints

    log = Path(spec) / LOG_FILE
    try:
        checkpoints: list[CheckpointInput] = list(read_checkpoints(spec))
        total = log.stat().st_size
    except ExportError as exc:
        raise SourceError(str(exc)) from None
    except OSError as exc:
        raise SourceError(f"{log}: {exc.strerror}") from None
    return LogSource(spec, _export_lines(spec), checkpoints, total, "B", str(log))


def with_progress(source: LogSource, desc: str = "verifying") -> Iterable[tuple[int, bytes]]:
    """The source's records, advancing a progress bar (``desc``) on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return source.records
    from tqdm import tqdm

    def advance() -> Iterator[tuple[int, bytes]]:
        bar = tqdm(
            desc=desc,
            total=source.total,
            unit=source.unit,
            unit_scale=True,
            file=sys.stderr,
            leave=False,
        )
        by_bytes = source.unit == "B"
        try:
            for item in source.records:
                bar.update(len(item[1]) + 1 if by_bytes else 1)
                yield item
        finally:
            bar.close()

    return advance()


@contextlib.contextmanager
def byte_progress(source: LogSource) -> Iterator[Callable[[int], None] | None]:
    """A callback advancing a progress bar by bytes on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc="verifying", total=source.total, unit="B", unit_scale=True, file=sys.stderr, leave=False)
    try:
        yield bar.update
    finally:
        bar.close()
