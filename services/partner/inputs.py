"""What every log source shares: :class:`LogSource` and the input error :class:`SourceError`.

A module of its own so that the source modules (``sources``, ``kafka_source``,
``limits``) import it and not each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from certlife.contracts.verification import CheckpointInput
from certlife.domain.errors import CertlifeError

#: Below this many bytes (or records) of log, workers cost more than they save.
SERIAL_BELOW_BYTES = 4 << 20
SERIAL_BELOW_RECORDS = 5000


class SourceError(CertlifeError):
    """A source, trust file or input file that cannot be read (one line, exit code 2)."""

    code = "input"


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
