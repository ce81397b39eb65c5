"""Test helpers for tlog-tiles readers: build a tiles directory in memory and serve it on 127.0.0.1.

The builder uses only :mod:`certlife.contracts.tiles` (paths, encodings) and
:mod:`certlife.contracts.merkle`, independently of the tiles writer service.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from certlife.contracts.merkle import leaf_hash, root_from_leaf_hashes
from certlife.contracts.tiles import TILE_WIDTH, encode_entries, entries_path, partial_tiles, tile_path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_tiles(directory: Path, entries: Sequence[bytes], note: str | None) -> Path:
    """Write the tiles of ``entries`` (full tiles and the partial ones of their size) and ``checkpoint``.

    Tiles of an earlier, smaller build stay (as on a real log: full tiles are immutable).
    """
    size = len(entries)
    for start in range(0, size, TILE_WIDTH):
        chunk = entries[start : start + TILE_WIDTH]
        _write(directory / entries_path(start // TILE_WIDTH, len(chunk)), encode_entries(chunk))
    level, hashes = 0, [leaf_hash(e) for e in entries]
    while hashes:
        above = []
        for start in range(0, len(hashes), TILE_WIDTH):
            chunk = hashes[start : start + TILE_WIDTH]
            _write(directory / tile_path(level, start // TILE_WIDTH, len(chunk)), b"".join(chunk))
            if len(chunk) == TILE_WIDTH:
                above.append(root_from_leaf_hashes(chunk))
        level, hashes = level + 1, above
    assert all((directory / tile_path(*p)).exists() for p in partial_tiles(size))
    if note is not None:
        _write(directory / "checkpoint", note.encode())
    return directory


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a reader that stops early closes its connections mid-answer


class TileServer:
    """A threaded static file server over a directory on 127.0.0.1, counting the paths requested."""

    def __init__(self, directory: Path) -> None:
        self.requests: Counter[str] = Counter()
        self.fail_next: dict[str, int] = {}  # path -> number of 503 answers before serving it
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_GET(self) -> None:
                path = self.path.lstrip("/")
                server.requests[path] += 1
                if server.fail_next.get(path, 0) > 0:
                    server.fail_next[path] -= 1
                    self.send_error(503)
                    return
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> TileServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def bundles(self) -> list[str]:
        """The entry bundle paths requested, sorted."""
        return sorted(p for p in self.requests if p.startswith("tile/entries/"))


@contextlib.contextmanager
def serve_tiles(directory: Path) -> Iterator[TileServer]:
    """A started :class:`TileServer` over ``directory`` for the block."""
    server = TileServer(directory).start()
    try:
        yield server
    finally:
        server.stop()
