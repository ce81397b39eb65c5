"""C2SP tlog-tiles: resource paths, entry bundles, hash tiles, and proofs computed from tiles.

A tiled log serves its Merkle tree (contracts/LOG.md §8) as static resources
(contracts/TILES.md)::

    checkpoint                       the signed checkpoint note (mutable)
    tile/<L>/<N>[.p/<W>]             hash tile: 256 (or W) consecutive hashes of level L
    tile/entries/<N>[.p/<W>]         entry bundle: the records of level-0 tile N

``<N>`` is written in 3-digit groups, all but the last prefixed by ``x``
(1234067 -> ``x001/x234/067``). An entry bundle is a sequence of big-endian
uint16 length-prefixed entries; certlife's entries are the exact record bytes,
so an entry is at most 65,535 bytes (:data:`MAX_ENTRY_BYTES`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
)

TILE_HEIGHT = 8
TILE_WIDTH = 256  # hashes in a full tile, entries in a full bundle
MAX_ENTRY_BYTES = 65535
MAX_LEVEL = 63
ENTRIES_LEVEL = -1  # the "level" of entry bundles in (level, index, width) triples, as Go's tlog

ReadTile = Callable[[int, int, int], bytes]  # (level, index, width) -> the tile's bytes

_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


class TileError(ContractError):
    """A malformed tile or entry bundle, an entry too large for one, or tiles that do not match a root."""

    code = "tile"


def _index_path(index: int) -> str:
    if index < 0:
        raise ValueError(f"tile index {index} is negative")
    parts = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        parts.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(parts))


def _suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is not between 1 and {TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Path of hash tile ``index`` of ``level`` (``tile/0/x001/234``; ``.p/W`` when ``width`` < 256)."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level {level} is not between 0 and {MAX_LEVEL}")
    return f"tile/{level}/{_index_path(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Path of entry bundle ``index`` (``tile/entries/x001/234``; ``.p/W`` when ``width`` < 256)."""
    return f"tile/entries/{_index_path(index)}{_suffix(width)}"


def parse_tile_path(path: str) -> tuple[int, int, int] | None:
    """``(level, index, width)`` of a canonical tile or bundle path (level ``ENTRIES_LEVEL``), else None."""
    match = _PATH.fullmatch(path)
    if not match:
        return None
    level = ENTRIES_LEVEL if match[1] == "entries" else int(match[1])
    index = int(match[2].replace("x", "").replace("/", ""))
    width = int(match[3]) if match[3] else TILE_WIDTH
    if level > MAX_LEVEL or width > TILE_WIDTH:
        return None
    canonical = entries_path(index, width) if level == ENTRIES_LEVEL else tile_path(level, index, width)
    return (level, index, width) if canonical == path else None


def tile_width(level: int, index: int, size: int) -> int:
    """Width of tile ``index`` of ``level`` (0 for bundles) in a tree of ``size``; 0 if it has none."""
    hashes = size >> (TILE_HEIGHT * max(level, 0))
    full = hashes >> TILE_HEIGHT
    if index < full:
        return TILE_WIDTH
    return hashes % TILE_WIDTH if index == full else 0


def partial_tiles(size: int) -> Iterator[tuple[int, int, int]]:
    """``(level, index, width)`` of every partial hash tile of a tree of ``size``, level 0 first."""
    level = 0
    while hashes := size >> (TILE_HEIGHT * level):
        if hashes % TILE_WIDTH:
            yield level, hashes >> TILE_HEIGHT, hashes % TILE_WIDTH
        level += 1


def encode_entries(entries: Iterable[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise TileError(
                f"an entry of {len(entry)} bytes does not fit a tlog-tiles bundle (at most {MAX_ENTRY_BYTES})",
                code="entry-too-large",
            )
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_entries(data: bytes, width: int | None = None) -> list[bytes]:
    """The entries of a bundle; ``width``, if given, is the exact number expected."""
    entries, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise TileError("malformed entry bundle: truncated length", code="malformed-bundle")
        end = at + 2 + int.from_bytes(data[at : at + 2], "big")
        if end > len(data):
            raise TileError("malformed entry bundle: truncated entry", code="malformed-bundle")
        entries.append(data[at + 2 : end])
        at = end
    if width is not None and len(entries) != width:
        raise TileError(
            f"entry bundle holds {len(entries)} entries, expected {width}", code="malformed-bundle"
        )
    return entries


def encode_hashes(hashes: Sequence[bytes]) -> bytes:
    """A hash tile: the hashes concatenated."""
    if any(len(h) != HASH_SIZE for h in hashes) or not 1 <= len(hashes) <= TILE_WIDTH:
        raise ValueError("a hash tile holds 1 to 256 hashes of 32 bytes")
    return b"".join(hashes)


def decode_hashes(data: bytes, width: int) -> list[bytes]:
    """The ``width`` hashes of a hash tile; any other length is a malformed tile."""
    if len(data) != width * HASH_SIZE:
        raise TileError(
            f"hash tile of {len(data)} bytes, expected {width * HASH_SIZE}", code="malformed-tile"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


class TiledHashes:
    """Root, leaf hashes and RFC 9162 proofs of the tree of ``size``, from hash tiles.

    ``read_tile(level, index, width)`` returns a tile's bytes (a file, an HTTP
    GET, memory); tiles are read once and cached. With ``root`` (a checkpoint's
    root hash), the tiles are authenticated: the partial tiles of the right
    edge must hash to ``root`` (checked at construction) and every full tile
    must hash to its entry in the tile above, so a tampered tile raises
    ``TileError`` (code ``tile-mismatch``) instead of yielding a wrong proof.
    """

    def __init__(self, read_tile: ReadTile, size: int, root: bytes | None = None) -> None:
        """Read tiles of the tree of ``size`` through ``read_tile``; ``root`` authenticates them."""
        if size < 0:
            raise ValueError(f"tree size {size} is negative")
        self.size = size
        self._read = read_tile
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self._authenticate = False
        if root is not None:
            if self.root() != root:  # reads exactly the right edge's partial tiles
                raise TileError(
                    f"the tiles do not hash to the root of tree size {size}", code="tile-mismatch"
                )
            self._authenticate = True

    def _tile(self, level: int, index: int) -> list[bytes]:
        cached = self._tiles.get((level, index))
        if cached is not None:
            return cached
        width = tile_width(level, index, self.size)
        hashes = decode_hashes(self._read(level, index, width), width)
        if self._authenticate and width == TILE_WIDTH and not self._matches_parent(level, index, hashes):
            raise TileError(
                f"{tile_path(level, index)} does not match the tile above it", code="tile-mismatch"
            )
        self._tiles[(level, index)] = hashes
        return hashes

    def _matches_parent(self, level: int, index: int, hashes: list[bytes]) -> bool:
        return (
            root_from_leaf_hashes(hashes) == self._tile(level + 1, index >> TILE_HEIGHT)[index % TILE_WIDTH]
        )

    def _complete(self, start: int, height: int) -> bytes:
        level, rest = divmod(height, TILE_HEIGHT)
        position = start >> (TILE_HEIGHT * level)
        first = position % TILE_WIDTH
        hashes = self._tile(level, position >> TILE_HEIGHT)[first : first + (1 << rest)]
        return hashes[0] if rest == 0 else root_from_leaf_hashes(hashes)

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for ``lo`` a multiple of the smallest power of two >= ``hi - lo``."""
        parts = []
        while lo < hi:
            height = (hi - lo).bit_length() - 1
            parts.append(self._complete(lo, height))
            lo += 1 << height
        if not parts:
            return EMPTY_ROOT
        result = parts[-1]
        for left in reversed(parts[:-1]):
            result = node_hash(left, result)
        return result

    def root(self) -> bytes:
        """The Merkle tree hash of the tree of ``size``."""
        return self.subtree(0, self.size)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash of entry ``index`` (from a level-0 tile)."""
        if not 0 <= index < self.size:
            raise ValueError(f"need 0 <= index ({index}) < size ({self.size})")
        return self._tile(0, index >> TILE_HEIGHT)[index % TILE_WIDTH]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The RFC 9162 audit path of entry ``index`` (the same bytes as ``merkle.inclusion_proof``)."""
        return inclusion_path(self.subtree, index, self.size)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """The RFC 9162 proof from ``old_size`` (``0 < old_size <= size``) to ``size``.

        For ``old_size`` 0 there is nothing to prove (tlog-witness sends an empty
        proof); like ``merkle.consistency_proof`` this raises ``ValueError``.
        """
        return consistency_path(self.subtree, old_size, self.size)

    def verify_entries(self, index: int, entries: Sequence[bytes]) -> None:
        """Check that ``entries`` (bundle ``index``, decoded) hash to level-0 tile ``index``."""
        width = tile_width(0, index, self.size)
        if not width:
            raise ValueError(f"a tree of size {self.size} has no entry bundle {index}")
        if len(entries) != width or [leaf_hash(e) for e in entries] != self._tile(0, index):
            raise TileError(
                f"{entries_path(index, width)} does not match its hash tile", code="tile-mismatch"
            )
