"""A local tlog-tiles directory (what ``certctl serve publisher`` writes) as a log source.

The records are read from the entry bundles of the directory's ``checkpoint``
tree size, in index order (input position = index + 1); the checkpoint note is
the source's one checkpoint. Nothing is trusted here: the whole-log verifier
recomputes the tree from the records and checks it against the signed root,
so a tampered bundle fails there. A missing or malformed bundle is an input
error (:class:`~certlife.services.partner.inputs.SourceError`, exit 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from certlife.contracts.notes import MAX_NOTE_SIZE
from certlife.contracts.tiles import MAX_ENTRY_BYTES, TILE_WIDTH, TileError, decode_entries, entries_path
from certlife.services.partner.inputs import LogSource, SourceError
from certlife.services.partner.limits import read_bounded

CHECKPOINT_FILE = "checkpoint"
TILE_DIR = "tile"
#: The most bytes a full entry bundle can hold (256 entries, each a 2-byte length and its bytes).
_MAX_BUNDLE = TILE_WIDTH * (2 + MAX_ENTRY_BYTES)


def is_tiles_dir(path: Path) -> bool:
    """True for a directory holding a ``checkpoint`` file and a ``tile/`` folder."""
    return (path / CHECKPOINT_FILE).is_file() and (path / TILE_DIR).is_dir()


def _records(directory: Path, size: int) -> Iterator[tuple[int, bytes]]:
    for bundle in range(-(-size // TILE_WIDTH)):
        width = min(TILE_WIDTH, size - bundle * TILE_WIDTH)
        path = directory / entries_path(bundle, width)
        if width < TILE_WIDTH and not path.exists():  # the log grew: the full bundle starts alike
            path = directory / entries_path(bundle)
        try:
            entries = decode_entries(read_bounded(str(path), "entry bundle", _MAX_BUNDLE))
        except TileError as exc:
            raise SourceError(f"{path}: {exc}") from None
        if len(entries) < width:
            raise SourceError(f"{path}: {len(entries)} entries, the checkpoint needs {width}")
        for offset, raw in enumerate(entries[:width]):
            index = bundle * TILE_WIDTH + offset
            yield index + 1, raw


def open_tiles_dir(directory: Path) -> LogSource:
    """The tiles directory's records up to its checkpoint, and that checkpoint."""
    from certlife.services.partner.tiles_source import checkpoint_of

    path = directory / CHECKPOINT_FILE
    try:
        note = read_bounded(str(path), "checkpoint", MAX_NOTE_SIZE).decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text") from None
    claimed = checkpoint_of(note)
    size = 0 if claimed is None else claimed.size
    return LogSource(str(directory), _records(directory, size), [(None, note)], size, "rec")
