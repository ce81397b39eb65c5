"""Where a log comes from: an export directory, ``kafka://HOST:PORT`` or tiles at ``http(s)://``; the trust file.

Every problem reading a source becomes :class:`SourceError` (exit code 2):
it is an input/output error, not a verification failure.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from certlife.contracts.trust import TrustFile
from certlife.contracts.verification import CheckpointInput
from certlife.services.partner.inputs import (
    SERIAL_BELOW_BYTES,
    SERIAL_BELOW_RECORDS,
    LogSource,
    SourceError,
)
from certlife.services.partner.limits import bounded_lines, read_bounded

__all__ = [
    "KAFKA_SCHEME",
    "SERIAL_BELOW_BYTES",
    "SERIAL_BELOW_RECORDS",
    "TILES_SCHEMES",
    "LogSource",
    "SourceError",
    "byte_progress",
    "open_source",
    "read_bytes",
    "read_trust_file",
    "with_progress",
]

KAFKA_SCHEME = "kafka://"
#: A log served as C2SP tlog-tiles (``certlife.services.partner.tiles_source``).
TILES_SCHEMES = ("http://", "https://")
#: Largest trust file read (as ``certlife.services.partner.export.read_trust`` allows).
MAX_TRUST_BYTES = 16 << 20


def read_trust_file(path: str) -> TrustFile:
    """Read and check ``trust.json`` (given the file or its export directory) or raise SourceError.

    A file over ``MAX_TRUST_BYTES`` is refused without being read.
    """
    from certlife.contracts.errors import ContractError
    from certlife.services.partner.export import TRUST_FILE

    file = Path(path)
    if file.is_dir():
        file = file / TRUST_FILE
    data = read_bytes(str(file), "trust file", MAX_TRUST_BYTES)
    try:
        return TrustFile.from_bytes(data)
    except ContractError as exc:
        raise SourceError(f"{file}: {exc}") from None


def read_bytes(path: str, what: str, limit: int) -> bytes:
    """Read a whole input file of at most ``limit`` bytes or raise SourceError naming it.

    Never reads more than ``limit + 1`` bytes: a larger file is refused unread.
    """
    return read_bounded(path, what, limit)


def _export_lines(log: Path) -> Iterator[tuple[int, bytes]]:
    """The lines of ``log.jsonl`` in bounded blocks (see :func:`certlife.services.partner.limits.bounded_lines`)."""
    yield from bounded_lines(str(log))


def open_source(spec: str) -> LogSource:
    """Open an export directory, a tiles directory, a ``kafka://`` or a tiles ``http(s)://`` URL.

    Checkpoints are read at once; records as the source's iterator is consumed.
    """
    if spec.startswith(KAFKA_SCHEME):
        from certlife.services.partner.kafka_source import open_kafka

        return open_kafka(spec)
    if spec.startswith(TILES_SCHEMES):
        from certlife.services.partner.tiles_source import open_tiles

        return open_tiles(spec)
    from certlife.services.partner.export import LOG_FILE, ExportError, read_checkpoints
    from certlife.services.partner.tiles_dir import is_tiles_dir, open_tiles_dir

    log = Path(spec) / LOG_FILE
    if not log.exists() and is_tiles_dir(Path(spec)):  # the publisher's tiles directory
        return open_tiles_dir(Path(spec))
    try:
        checkpoints: list[CheckpointInput] = list(read_checkpoints(spec))
        total = log.stat().st_size
    except ExportError as exc:
        raise SourceError(str(exc)) from None
    except OSError as exc:
        raise SourceError(f"{log}: {exc.strerror}") from None
    return LogSource(spec, _export_lines(log), checkpoints, total, "B", str(log))


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
