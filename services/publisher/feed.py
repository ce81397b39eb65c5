"""Records and checkpoints from the log topics into the tiles, in order, exactly once.

Records (keyed by their decimal index) are buffered until a checkpoint covers
them; then they are appended to the :class:`TileWriter`, the checkpoint's root
is checked against the tiles, and the note is published as the tiles'
``checkpoint``. A record the tiles already hold (read again after a restart) is
skipped when its bytes are the same; other bytes at that index, or a missing
index, stop the publisher with one line. The position
(:mod:`certlife.services.publisher.position`) is saved after the tiles it counts.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import leaf_hash
from certlife.contracts.notes import Checkpoint, signature_count
from certlife.domain.errors import CertlifeError
from certlife.projections.audit import AUDIT
from certlife.services.publisher.position import Position
from certlife.services.publisher.witnesses import note_body

if TYPE_CHECKING:
    from certlife.services.tiles.writer import TileWriter

log = logging.getLogger("certlife.publisher")

#: The tiles' checkpoint file (C2SP tlog-tiles).
CHECKPOINT_FILE = "checkpoint"
_DECIMAL = re.compile(rb"0|[1-9][0-9]{0,19}")


class PublisherError(CertlifeError, code="publisher"):
    """The log topics and the tiles disagree (a gap, other bytes at an index, another root): one line."""


class GapError(PublisherError, code="publisher-gap"):
    """A record's index is past the next one the tiles expect."""


class TileFeed:
    """Feeds one tiles directory from the log topics' messages; see the module docstring."""

    def __init__(self, writer: TileWriter, directory: Path) -> None:
        """Resume from the tiles on disk and the saved position."""
        self.writer, self.directory = writer, directory
        self.position = Position.load(directory)
        self._log_done, self._checkpoints_read = self.position.log, self.position.checkpoints
        self._records: list[tuple[int, bytes]] = []  # (offset, record) read, not yet in the tiles
        self._pending: list[tuple[int, Checkpoint, str]] = []  # checkpoints waiting for their records
        self.tiles_note: str | None = None
        self.tiles_checkpoint: Checkpoint | None = None
        self.seen: list[str] = []  # notes of the tiles' size read again (maybe with cosignatures)
        self.appended: list[bytes] = []  # records appended to the tiles since the caller last took them
        path = directory / CHECKPOINT_FILE
        if path.exists():
            self.tiles_note = path.read_text(encoding="utf-8")
            self.tiles_checkpoint = Checkpoint.parse(note_body(self.tiles_note))

    @property
    def tiles_size(self) -> int:
        """Size of the published tiles checkpoint (-1: none yet)."""
        return -1 if self.tiles_checkpoint is None else self.tiles_checkpoint.size

    def add_record(self, offset: int, key: bytes | None, value: bytes | None) -> None:
        """One message of the log topic (read in offset order)."""
        if key is None or not _DECIMAL.fullmatch(key) or value is None:
            raise PublisherError(f"log topic offset {offset}: not a record keyed by its decimal index")
        index, expected = int(key), self.writer.size + len(self._records)
        if index > expected:
            raise GapError(f"log topic offset {offset}: record {index} follows {expected - 1} (a gap)")
        if index == expected:
            self._records.append((offset, value))
            return
        if index < self.writer.size:
            held = self.writer.hashes(self.writer.size).leaf_hash(index)
        else:
            held = leaf_hash(self._records[index - self.writer.size][1])
        if held != leaf_hash(value):
            raise PublisherError(
                f"log topic offset {offset}: record {index} differs from the one already read"
            )
        if index < self.writer.size and not self._records:
            self._log_done = offset + 1  # a record read again: already in the tiles

    def rewind(self) -> None:
        """Forget the records read but not appended: the log topic is read again from offset 0."""
        self._records.clear()
        self._log_done = 0

    def add_checkpoint(self, offset: int, value: bytes | None) -> None:
        """One message of the checkpoints topic (read in offset order)."""
        self._checkpoints_read = offset + 1
        try:
            note = (value or b"").decode("utf-8")
            checkpoint = Checkpoint.parse(note_body(note))
        except (UnicodeDecodeError, ContractError) as exc:
            log.warning(
                "checkpoints topic offset %d: skipped, not a checkpoint note (%s)", offset, exc, extra=AUDIT
            )
            return
        self._pending.append((offset, checkpoint, note))

    def flush(self) -> list[str]:
        """Append the records that checkpoints cover, publish those checkpoints, save the position.

        Returns the notes newly published as the tiles' checkpoint, oldest first.
        """
        published: list[str] = []
        while self._pending:
            _, checkpoint, note = self._pending[0]
            missing = checkpoint.size - self.writer.size
            if missing > len(self._records):
                break  # its records are not read yet
            if missing > 0:
                appended = [record for _, record in self._records[:missing]]
                self.writer.append(appended)
                self.appended += appended
                self._log_done = self._records[missing - 1][0] + 1
                del self._records[:missing]
            self._pending.pop(0)
            if self._publish(checkpoint, note):
                published.append(note)
        checkpoints = self._pending[0][0] if self._pending else self._checkpoints_read
        position = Position(self._log_done, checkpoints)
        if position != self.position:
            position.save(self.directory)
            self.position = position
        return published

    def _publish(self, checkpoint: Checkpoint, note: str) -> bool:
        if self.tiles_checkpoint is not None and checkpoint.size <= self.tiles_checkpoint.size:
            if checkpoint == self.tiles_checkpoint:
                self.seen.append(note)
            return False
        if checkpoint.size < self.writer.size:
            log.warning(
                "checkpoint %d skipped: the tiles already hold %d records", checkpoint.size, self.writer.size
            )
            return False
        root = self.writer.hashes(checkpoint.size).root()
        if root != checkpoint.root_hash:
            raise PublisherError(
                f"checkpoint {checkpoint.size}: its root hash differs from the tiles' root at that size"
            )
        self.writer.publish(note)
        self.tiles_note, self.tiles_checkpoint = note, checkpoint
        return True

    def republish(self, note: str) -> bool:
        """Replace the tiles' checkpoint by ``note``, the same checkpoint with more signature lines.

        False (nothing written) when ``note`` is another checkpoint or has no more lines.
        """
        if self.tiles_note is None or self.tiles_checkpoint is None:
            return False
        if Checkpoint.parse(note_body(note)) != self.tiles_checkpoint:
            return False
        if signature_count(note) <= signature_count(self.tiles_note):
            return False
        self.writer.publish(note)
        self.tiles_note = note
        return True
