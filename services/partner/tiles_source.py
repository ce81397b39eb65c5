"""Read a log served as C2SP tlog-tiles over HTTP: ``certverify log http(s)://HOST/PREFIX/``.

The ``checkpoint`` is read first and handed to the verifier like an export's
checkpoints (its signature and cosignatures are the verifier's business);
then the entry bundles of the checkpoint's tree (full ones, and the partial
one of its size) stream in index order, fetched ``concurrency`` at a time
(:class:`~certlife.services.partner.tiles_http.TileFetcher`), and their
records go through the same verifier as an export's, the position of each
being its index. Nothing past the checkpoint is read.

The hash tiles are checked too, against the checkpoint's root
(:class:`~certlife.contracts.tiles.TiledHashes` with the root): the right
edge's partial tiles must hash to the root, every full tile to its entry in
the tile above, and each bundle's entries to its level-0 tile. Two failure
codes (exit 1, check ``checkpoint-root``) say which resource was wrong:

* ``tile-mismatch`` — a served hash tile is malformed or does not hash to the
  checkpoint's tree (a tampered or corrupt ``tile/<L>/...``);
* ``entries-mismatch`` — an entry bundle is malformed or its entries do not
  hash to the (authenticated) level-0 tile (a tampered ``tile/entries/...``).

Both are registered in ``contracts.verification.failures.FAILURE_CODES`` and
specified in LOG.md §11 ("Reading from tiles") and TILES.md §7.

A partial tile or bundle that is gone (404) is read from its full tile, as
the spec allows. Fetching happens on a background thread with its own event
loop, a few bundles ahead of the verifier.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator

from certlife.contracts.errors import ContractError
from certlife.contracts.notes import MAX_NOTE_SIZE, Checkpoint, note_signatures
from certlife.contracts.tiles import (
    MAX_ENTRY_BYTES,
    TILE_HEIGHT,
    TILE_WIDTH,
    TiledHashes,
    TileError,
    decode_entries,
    entries_path,
    partial_tiles,
    tile_path,
    tile_width,
)
from certlife.contracts.verification.failures import fail
from certlife.services.partner.inputs import LogSource, SourceError
from certlife.services.partner.tiles_http import CONCURRENCY, NotFound, TileFetcher

TILE_BYTES = TILE_WIDTH * 32
BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES)
_DONE = object()
_STALL_TIMEOUT = 300.0


def checkpoint_of(note: str) -> Checkpoint | None:
    """The checkpoint a note claims (unverified: the verifier checks its signatures), or None."""
    try:
        return Checkpoint.parse(note_signatures(note)[0])
    except ContractError:
        return None


class TiledLog:
    """The tiles of one tree size below a URL prefix: authenticated hash tiles and entry bundles."""

    def __init__(self, fetcher: TileFetcher, size: int, root: bytes) -> None:
        """Read tiles of the tree ``(size, root)`` through ``fetcher``; call :meth:`start` first."""
        self.fetcher, self.size, self.root = fetcher, size, root
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._hashes: TiledHashes | None = None
        self._fetching: dict[tuple[int, int], asyncio.Future[bytes]] = {}
        self._read_once: set[tuple[int, int]] = set()  # tiles TiledHashes has read (and cached)

    async def _tile(self, level: int, index: int) -> bytes:
        width = tile_width(level, index, self.size)
        try:
            return await self.fetcher.get(tile_path(level, index, width), TILE_BYTES)
        except NotFound:
            if width == TILE_WIDTH:
                raise
            full = await self.fetcher.get(tile_path(level, index), TILE_BYTES)  # the partial one is gone
            return full[: 32 * width]

    def _read(self, level: int, index: int, width: int) -> bytes:
        """``TiledHashes``' reader: the tiles fetched for it (each is read once, then cached there)."""
        tile = self._tiles.pop((level, index), None)
        self._read_once.add((level, index))
        if tile is None:
            raise TileError(f"{tile_path(level, index, width)} was not fetched", code="tile-missing")
        return tile

    async def start(self) -> None:
        """Read the right edge's partial tiles and check that they hash to the root."""
        edge = list(partial_tiles(self.size))
        got = await asyncio.gather(*(self._tile(level, index) for level, index, _ in edge))
        self._tiles.update(((level, index), data) for (level, index, _), data in zip(edge, got, strict=True))
        try:
            self._hashes = TiledHashes(self._read, self.size, self.root)
        except (TileError, ValueError) as exc:
            raise fail("tile-mismatch", f"hash tiles: {exc}", checkpoint=self.size) from None

    async def _bundle(self, index: int) -> list[bytes]:
        """Bundle ``index``'s entries, checked, once its level-0 tile and the tiles above it are read."""
        width = tile_width(0, index, self.size)
        wanted, level, at = [], 0, index
        while not self._has(level, at):
            wanted.append((level, at))  # a full tile must match its entry in the tile above
            if tile_width(level, at, self.size) != TILE_WIDTH:
                break
            level, at = level + 1, at >> TILE_HEIGHT
        data, *tiles = await asyncio.gather(self._entries(index, width), *(self._shared(*w) for w in wanted))
        for key, tile in zip(wanted, tiles, strict=True):
            self._tiles[key] = tile
        return self._check(index, width, data)

    def _shared(self, level: int, index: int) -> asyncio.Future[bytes]:
        """One fetch of a tile above level 0 however many bundles wait for it."""
        if level == 0:
            return asyncio.ensure_future(self._tile(level, index))
        task = self._fetching.get((level, index))
        if task is None:
            task = self._fetching[(level, index)] = asyncio.ensure_future(self._tile(level, index))
        return task

    def _has(self, level: int, index: int) -> bool:
        return (level, index) in self._read_once or (level, index) in self._tiles

    async def _entries(self, index: int, width: int) -> bytes:
        try:
            return await self.fetcher.get(entries_path(index, width), BUNDLE_BYTES)
        except NotFound:
            if width == TILE_WIDTH:
                raise
            return await self.fetcher.get(entries_path(index), BUNDLE_BYTES)  # cut below

    def _check(self, index: int, width: int, data: bytes) -> list[bytes]:
        hashes = self._hashes
        assert hashes is not None, "TiledLog.start first"
        try:
            hashes.leaf_hash(index * TILE_WIDTH)  # authenticates the level-0 tile (and those above)
        except (TileError, ValueError) as exc:
            raise fail(
                "tile-mismatch", f"hash tiles: {exc}", index=index * TILE_WIDTH, checkpoint=self.size
            ) from None
        try:
            entries = decode_entries(data)[:width] if width < TILE_WIDTH else decode_entries(data, width)
            hashes.verify_entries(index, entries)
        except TileError as exc:
            where = entries_path(index, width)
            raise fail(
                "entries-mismatch", f"{where}: {exc}", index=index * TILE_WIDTH, checkpoint=self.size
            ) from None
        cached = getattr(hashes, "_tiles", None)  # TiledHashes keeps every tile it read; a level-0
        if isinstance(cached, dict):  # tile is needed once here: dropped, memory stays flat
            cached.pop((0, index), None)
        return entries

    async def entries(self, start: int = 0, window: int = CONCURRENCY) -> AsyncIterator[tuple[int, bytes]]:
        """``(index, entry)`` from ``start`` to the tree's end, ``window`` bundles fetched ahead."""
        first, count = start // TILE_WIDTH, -(-self.size // TILE_WIDTH)
        tasks: deque[asyncio.Task[list[bytes]]] = deque()
        upcoming = first
        try:
            while tasks or upcoming < count:
                while upcoming < count and len(tasks) < window:
                    tasks.append(asyncio.create_task(self._bundle(upcoming)))
                    upcoming += 1
                index = upcoming - len(tasks)
                bundle = await tasks.popleft()
                base = index * TILE_WIDTH
                for offset in range(max(0, start - base), len(bundle)):
                    yield base + offset, bundle[offset]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def read_checkpoint(fetcher: TileFetcher) -> str:
    """The text of the log's ``checkpoint``."""
    data = await fetcher.get("checkpoint", MAX_NOTE_SIZE)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{fetcher.url}checkpoint: not UTF-8 text") from None


def _stream(url: str, note: str, stop: threading.Event) -> Iterator[tuple[int, bytes]]:
    """The records of the checkpoint's tree, fetched and checked on a background thread."""
    claimed = checkpoint_of(note)
    if claimed is None or claimed.size == 0:
        return  # the verifier has refused a malformed checkpoint already; an empty tree has no tiles
    batches: queue.Queue[object] = queue.Queue(maxsize=8)

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    async def produce() -> None:
        async with TileFetcher(url) as fetcher:
            log = TiledLog(fetcher, claimed.size, claimed.root_hash)
            await log.start()
            batch: list[tuple[int, bytes]] = []
            async for item in log.entries():
                batch.append(item)
                if len(batch) == TILE_WIDTH:
                    put(batch)
                    batch = []
                if stop.is_set():
                    return
            put(batch)

    def run() -> None:
        try:
            asyncio.run(produce())
            put(_DONE)
        except BaseException as exc:  # handed over to the consuming thread
            put(exc)

    threading.Thread(target=run, name="certverify-tiles", daemon=True).start()
    try:
        while True:
            try:
                item = batches.get(timeout=_STALL_TIMEOUT)
            except queue.Empty:
                raise SourceError(f"{url}: no data for {_STALL_TIMEOUT:.0f}s") from None
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, list)
            yield from item
    finally:
        stop.set()


def open_tiles(url: str) -> LogSource:
    """Open the tiled log below ``url``: its checkpoint now, its records as a stream."""

    async def first() -> str:
        async with TileFetcher(url) as fetcher:
            return await read_checkpoint(fetcher)

    note = asyncio.run(first())
    claimed = checkpoint_of(note)
    total = claimed.size if claimed is not None else 0
    return LogSource(url, _stream(url, note, threading.Event()), [(None, note)], total, "rec")
