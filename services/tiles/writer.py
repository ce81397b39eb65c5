"""Write a log as C2SP tlog-tiles, incrementally and crash-safely (contracts/TILES.md).

Every file is written under a hidden temporary name, synced and renamed into
place, so a reader (or a restarted writer) sees a whole file or none. Full
tiles and bundles are written once, in index order, when they complete: the
entry bundle, then its level-0 tile, then any tile above that it completes.
``publish`` writes the partial tiles of a checkpoint's size, syncs the
directories, and only then replaces ``checkpoint``.

In memory the writer holds only the right edge: for each level the hashes of
its incomplete tile, and the entries of the incomplete bundle (at most 255
each). After a crash (kill -9 anywhere) a new ``TileWriter`` re-derives its
state from the directory: the ``checkpoint``, whose partial bundle must
match its root, and the full bundles written after it; a full tile missing
after its bundle is recomputed. Leftover temporary files and partial tiles
of a checkpoint that was never written are never read; they are overwritten
when written again, with the same bytes, since tiles depend only on the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import leaf_hash, root_from_leaf_hashes
from certlife.contracts.notes import Checkpoint, note_signatures
from certlife.contracts.tiles import (
    MAX_ENTRY_BYTES,
    TILE_HEIGHT,
    TILE_WIDTH,
    TiledHashes,
    TileError,
    decode_entries,
    decode_hashes,
    encode_entries,
    entries_path,
    partial_tiles,
    tile_path,
)
from certlife.services.infra.fileio import sync_directory, write_file_atomic

log = logging.getLogger("certlife.tiles")

CHECKPOINT_FILE = "checkpoint"
_FULL_TILE_BYTES = TILE_WIDTH * 32


class TileWriter:
    """Appends entries (exact record bytes) to a tiles directory and publishes checkpoints.

    ``size`` is the number of entries appended: the index the next entry must
    have. After a restart it is what the directory holds durably (every full
    bundle, and the published checkpoint's size); the caller appends again
    from there. After an ``OSError`` make a new writer: it resumes from disk.
    """

    def __init__(self, directory: Path) -> None:
        """Open (or create) ``directory`` and resume from what it holds."""
        self.directory = Path(directory)
        self.size = 0
        self.published = 0  # size of the checkpoint on disk
        self._edges: list[list[bytes]] = []  # per level: hashes of the incomplete tile
        self._entries: list[bytes] = []  # entries of the incomplete bundle
        self._made: set[Path] = set()  # directories known to exist
        self._dirty: set[Path] = set()  # directories with renames not yet synced
        self.directory.mkdir(parents=True, exist_ok=True)
        self._resume()

    # -- appending ----------------------------------------------------------

    def append(self, entries: Sequence[bytes]) -> None:
        """Append the next entries in index order (each at most 65,535 bytes)."""
        for at, entry in enumerate(entries):
            if len(entry) > MAX_ENTRY_BYTES:
                raise TileError(
                    f"entry {self.size + at} is {len(entry)} bytes; a tlog-tiles entry is at most {MAX_ENTRY_BYTES}",
                    code="entry-too-large",
                )
        for entry in entries:
            index = self.size
            self._entries.append(entry)
            if len(self._entries) == TILE_WIDTH:
                self._write(entries_path(index >> TILE_HEIGHT), encode_entries(self._entries))
                self._entries = []
            self._push(0, leaf_hash(entry), index)
            self.size = index + 1

    def _push(self, level: int, digest: bytes, index: int) -> None:
        """Add ``digest`` to ``level``'s edge; write each tile it completes (``index``: the leaf's)."""
        while True:
            if level == len(self._edges):
                self._edges.append([])
            edge = self._edges[level]
            edge.append(digest)
            if len(edge) < TILE_WIDTH:
                return
            self._write(tile_path(level, index >> (TILE_HEIGHT * (level + 1))), b"".join(edge))
            digest = root_from_leaf_hashes(edge)
            self._edges[level] = []
            level += 1

    # -- publishing ---------------------------------------------------------

    def publish(self, note: str) -> None:
        """Write the partial tiles of the checkpoint ``note``'s size, then the note as ``checkpoint``.

        The note's root must be the root of the first ``size`` entries appended
        (``tile-mismatch`` otherwise), and its size at least the published one.
        Republishing the same size (say, with more cosignatures) is allowed.
        """
        checkpoint = _parse(note)
        size = checkpoint.size
        if size > self.size:
            raise TileError(f"checkpoint of size {size} is ahead of the tiles ({self.size} entries)")
        if size < self.published:
            raise TileError(
                f"checkpoint of size {size} is older than the published one ({self.published})",
                code="checkpoint-rollback",
            )
        if self.hashes(size).root() != checkpoint.root_hash:
            raise TileError(f"checkpoint root does not match the first {size} entries", code="tile-mismatch")
        self._rewrite_partials(size)
        for folder in sorted(self._dirty):
            sync_directory(folder)
        self._dirty.clear()
        write_file_atomic(self.directory / CHECKPOINT_FILE, note.encode("utf-8"))
        sync_directory(self.directory)
        self.published = size

    def _rewrite_partials(self, size: int) -> None:
        """Write the partial tiles and the partial bundle of a tree of ``size``."""
        for level, index, width in partial_tiles(size):
            self._write(tile_path(level, index, width), self._read_tile(level, index, width))
        if width := size % TILE_WIDTH:
            self._write(entries_path(size >> TILE_HEIGHT, width), encode_entries(self._bundle(size)))

    def _bundle(self, size: int) -> list[bytes]:
        """The entries of the (partial) bundle of a tree of ``size``."""
        index, width = size >> TILE_HEIGHT, size % TILE_WIDTH
        if index == self.size >> TILE_HEIGHT:
            return self._entries[:width]
        return decode_entries(self._read(entries_path(index)), TILE_WIDTH)[:width]

    def hashes(self, size: int) -> TiledHashes:
        """Root and proofs of the tree of ``size`` (<= ``self.size``), from the directory and the edge."""
        if not 0 <= size <= self.size:
            raise ValueError(f"need 0 <= size ({size}) <= {self.size}")
        return TiledHashes(self._read_tile, size)

    def _read_tile(self, level: int, index: int, width: int) -> bytes:
        if level < len(self._edges) and index == self.size >> (TILE_HEIGHT * (level + 1)):
            return b"".join(self._edges[level][:width])
        return self._read(tile_path(level, index))[: width * 32]

    # -- files --------------------------------------------------------------

    def _write(self, relative: str, data: bytes) -> None:
        path = self.directory / relative
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        write_file_atomic(path, data)
        self._dirty.add(path.parent)

    def _read(self, relative: str) -> bytes:
        try:
            return (self.directory / relative).read_bytes()
        except FileNotFoundError:
            raise TileError(f"{self.directory / relative}: missing from the tiles directory") from None

    def _exists(self, relative: str, length: int | None = None) -> bool:
        try:
            found = (self.directory / relative).stat().st_size
        except FileNotFoundError:
            return False
        return length is None or found == length

    # -- resuming -----------------------------------------------------------

    def _resume(self) -> None:
        checkpoint = None
        if (self.directory / CHECKPOINT_FILE).exists():
            checkpoint = _parse(self._read(CHECKPOINT_FILE).decode("utf-8", "replace"))
        published = checkpoint.size if checkpoint else 0
        bundles = published >> TILE_HEIGHT  # durable: synced before the checkpoint was written
        while self._exists(entries_path(bundles)):
            bundles += 1
        self._repair(published >> TILE_HEIGHT, bundles)
        self._edges = [[]]  # level 0's edge is the tail, below
        level = 1
        while below := bundles >> (TILE_HEIGHT * (level - 1)):  # full tiles of level - 1
            first = below - below % TILE_WIDTH
            self._edges.append(
                [root_from_leaf_hashes(self._hash_tile(level - 1, n)) for n in range(first, below)]
            )
            level += 1
        self.size = bundles * TILE_WIDTH
        if checkpoint and published > self.size:
            tail = decode_entries(
                self._read(entries_path(bundles, published - self.size)), published - self.size
            )
            self._entries = tail
            self._edges[0] = [leaf_hash(e) for e in tail]
            self.size = published
        if checkpoint and self.hashes(published).root() != checkpoint.root_hash:
            raise TileError(
                f"{self.directory}: the tiles do not hash to the root of its checkpoint (size {published})",
                code="tile-mismatch",
            )
        self.published = published
        self._rewrite_partials(published)  # a damaged leftover never outlives a restart
        if self.size > published:
            log.info("tiles: resumed at %d entries (checkpoint %d)", self.size, published)

    def _hash_tile(self, level: int, index: int) -> list[bytes]:
        return decode_hashes(self._read(tile_path(level, index)), TILE_WIDTH)

    def _repair(self, start: int, bundles: int) -> None:
        """Recompute full tiles missing (or cut short) after the full bundles ``start``..``bundles``."""
        for n in range(start, bundles):
            if not self._exists(tile_path(0, n), _FULL_TILE_BYTES):
                entries = decode_entries(self._read(entries_path(n)), TILE_WIDTH)
                self._write(tile_path(0, n), b"".join(leaf_hash(e) for e in entries))
        for level in range(1, _levels(bundles)):
            for n in range(start >> (TILE_HEIGHT * level), bundles >> (TILE_HEIGHT * level)):
                if not self._exists(tile_path(level, n), _FULL_TILE_BYTES):
                    below = range(n * TILE_WIDTH, (n + 1) * TILE_WIDTH)
                    digests = [root_from_leaf_hashes(self._hash_tile(level - 1, m)) for m in below]
                    self._write(tile_path(level, n), b"".join(digests))


def _levels(bundles: int) -> int:
    """Number of levels with at least one hash once ``bundles`` full bundles exist (0 if none)."""
    levels = 0
    while bundles >> (TILE_HEIGHT * levels):
        levels += 1
    return levels


def _parse(note: str) -> Checkpoint:
    try:
        return Checkpoint.parse(note_signatures(note)[0])
    except ContractError as exc:
        raise TileError(f"checkpoint: {exc}", code=exc.code) from None
