"""Where the publisher is in the log topics, kept durably beside the tiles.

A hidden file ``.publisher-position`` in the tiles directory holds the next
offset to read of the log topic and of the checkpoints topic, written
atomically after the tiles it accounts for. A crash between the tiles and this
file leaves it behind them, never ahead: the records read again are
recognised as already in the tiles (same index, same bytes) and skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from certlife.domain.errors import CertlifeError
from certlife.services.infra.fileio import write_file_atomic

POSITION_FILE = ".publisher-position"


class PositionError(CertlifeError, code="publisher-position"):
    """The position file exists but cannot be read (one line)."""


@dataclass(frozen=True)
class Position:
    """Next offsets to read: log topic and checkpoints topic (partition 0 of each)."""

    log: int = 0
    checkpoints: int = 0

    @classmethod
    def load(cls, directory: Path) -> Position:
        """The saved position; the start of both topics when there is none."""
        path = directory / POSITION_FILE
        try:
            data = json.loads(path.read_bytes())
            position = cls(int(data["log"]), int(data["checkpoints"]))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PositionError(
                f"{path}: unreadable publisher position ({exc}); delete it to re-read"
            ) from None
        if position.log < 0 or position.checkpoints < 0:
            raise PositionError(f"{path}: negative offset")
        return position

    def save(self, directory: Path) -> None:
        """Write this position atomically."""
        data = json.dumps({"log": self.log, "checkpoints": self.checkpoints}).encode()
        write_file_atomic(directory / POSITION_FILE, data)
