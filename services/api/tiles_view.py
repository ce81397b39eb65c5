"""The published log as the API reads it: the tiles directory's cosigned checkpoint, records and proofs.

``certctl serve publisher`` writes the log as C2SP tlog-tiles (contracts/TILES.md)
and replaces ``checkpoint`` with each cosigned checkpoint. :class:`TilesView`
reads that checkpoint (again whenever the file changes), opens its tree with
:class:`~certlife.contracts.tiles.TiledHashes` authenticated by the root (a
tampered tile raises instead of yielding a wrong proof), and answers a
record's exact bytes (from its entry bundle; its leaf hash checked against the
authenticated level-0 tile) and its RFC 9162 inclusion proof in that tree.

The checkpoint's ``time`` is the ``recordedAt`` of its last record
(contracts/LOG.md §8). Reads are small local files, done on the event loop.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import inclusion_path, leaf_hash
from certlife.contracts.notes import Checkpoint, note_signatures
from certlife.contracts.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TiledHashes,
    TileError,
    decode_entries,
    entries_path,
    tile_path,
    tile_width,
)

CHECKPOINT_FILE = "checkpoint"
#: Subtree hashes kept for inclusion proofs (32 bytes each, plus the cache's keys).
SUBTREES = 1 << 16
#: Decoded entry bundles kept (the least recently used goes first).
BUNDLES = 64


@dataclass(frozen=True)
class Published:
    """One published checkpoint: its signed note (cosignatures included), tree and time."""

    note: str
    checkpoint: Checkpoint
    hashes: TiledHashes
    time: str | None
    #: When the file was written (seconds since the epoch): the checkpoint's freshness.
    written: float = 0.0

    @property
    def size(self) -> int:
        """The checkpoint's tree size."""
        return self.checkpoint.size


class TilesView:
    """Read-only access to a tiles directory (the publisher's ``CERTLIFE_TILES_DIR``)."""

    def __init__(self, directory: Path) -> None:
        """Read tiles under ``directory`` (it may be empty until the publisher's first checkpoint)."""
        self.directory = Path(directory)
        self._seen: tuple[int, int, int] | None = None
        self._current: Published | None = None
        self._bundles: dict[tuple[int, int], list[bytes]] = {}
        self._lock = threading.Lock()
        self._subtree: tuple[Published, Callable[[int, int], bytes]] | None = None

    def current(self) -> Published | None:
        """The published checkpoint (None before the first); re-read when the file changed."""
        path = self.directory / CHECKPOINT_FILE
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            if stamp != self._seen:
                note = path.read_text(encoding="utf-8")
                try:
                    checkpoint = Checkpoint.parse(note_signatures(note)[0])
                except ContractError as exc:
                    raise TileError(f"{path}: {exc}", code=exc.code) from None
                hashes = TiledHashes(self._read_tile, checkpoint.size, checkpoint.root_hash)
                self._bundles.clear()
                published = Published(note, checkpoint, hashes, None)
                time = None
                if checkpoint.size:
                    last = json.loads(self._record(published, checkpoint.size - 1))
                    time = last.get("recordedAt") if isinstance(last, dict) else None
                self._current = Published(note, checkpoint, hashes, time, st.st_mtime)
                self._seen = stamp
            return self._current

    def record(self, published: Published, index: int) -> bytes:
        """The exact bytes of record ``index`` (< ``published.size``), checked against its hash tile."""
        with self._lock:
            return self._record(published, index)

    def inclusion(self, published: Published, index: int) -> list[bytes]:
        """The inclusion proof of record ``index`` in ``published``'s tree.

        The subtree hashes it is made of are kept (per checkpoint, up to
        ``SUBTREES`` of them): proofs share their upper levels.
        """
        with self._lock:
            if self._subtree is None or self._subtree[0] is not published:
                self._subtree = (published, functools.lru_cache(maxsize=SUBTREES)(published.hashes.subtree))
            return inclusion_path(self._subtree[1], index, published.size)

    def _record(self, published: Published, index: int) -> bytes:
        if not 0 <= index < published.size:
            raise ValueError(f"record {index} is not in the tree of size {published.size}")
        bundle = index >> TILE_HEIGHT
        width = tile_width(0, bundle, published.size)
        entries = self._bundles.pop((bundle, width), None)
        if entries is None:
            entries = decode_entries(self._read_file(entries_path(bundle, width), width))[:width]
        self._bundles[(bundle, width)] = entries  # most recently used last
        if len(self._bundles) > BUNDLES:
            self._bundles.pop(next(iter(self._bundles)))
        entry = entries[index % TILE_WIDTH] if index % TILE_WIDTH < len(entries) else b""
        if leaf_hash(entry) != published.hashes.leaf_hash(index):  # the level-0 tile is authenticated
            raise TileError(
                f"{entries_path(bundle, width)}: record {index} does not match its hash tile",
                code="tile-mismatch",
            )
        return entry

    def _read_file(self, partial: str, width: int) -> bytes:
        """A tile or bundle file; a partial one that is gone is read from its full file."""
        try:
            return (self.directory / partial).read_bytes()
        except FileNotFoundError:
            if width == TILE_WIDTH:
                raise TileError(f"{partial}: missing from the tiles directory", code="tile-missing") from None
        full = partial.split(".p/")[0]
        try:
            data = (self.directory / full).read_bytes()
        except FileNotFoundError:
            raise TileError(f"{partial}: missing from the tiles directory", code="tile-missing") from None
        return data if full.startswith("tile/entries") else data[: width * 32]  # a bundle is cut when decoded

    def _read_tile(self, level: int, index: int, width: int) -> bytes:
        return self._read_file(tile_path(level, index, width), width)


def tiles_exist(directory: Path) -> bool:
    """True when ``directory`` holds a published checkpoint."""
    return os.path.exists(Path(directory) / CHECKPOINT_FILE)
