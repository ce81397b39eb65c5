"""Serve a tiles directory over HTTP (``certctl serve tiles``), as any static server or CDN could.

Only the resources of C2SP tlog-tiles are served — ``checkpoint`` and the
canonical ``tile/...`` paths (:func:`~certlife.contracts.tiles.parse_tile_path`);
anything else is 404, so there is no directory listing, no hidden temporary
file and no path outside the directory. Caching (contracts/TILES.md §5):
full tiles and bundles are immutable for a year, partial ones for a minute,
the checkpoint must be revalidated. Entry bundles are gzip-compressed for
clients that accept it.
"""

from __future__ import annotations

import gzip
import logging
import os
from functools import lru_cache
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from certlife.contracts.tiles import ENTRIES_LEVEL, TILE_WIDTH, parse_tile_path
from certlife.domain.errors import CertlifeError
from certlife.services.infra import health
from certlife.services.infra.http_server import bind, origin, serve_app

log = logging.getLogger("certlife.tiles")

DEFAULT_PORT = 8381
IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=60"
CHECKPOINT = "no-cache"
CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
_COMMON = {"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"}


class TilesServeError(CertlifeError, code="tiles-serve"):
    """The tiles server cannot start: directory or port (one line)."""


def _not_found() -> Response:
    return PlainTextResponse("not found\n", 404, headers={"Cache-Control": "no-cache", **_COMMON})


def _accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding value allows gzip (``gzip`` or ``*``, without ``q=0``)."""
    for item in header.lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


@lru_cache(maxsize=256)
def _gzipped(path: str, size: int, mtime: int) -> bytes:  # keyed by size and mtime: a rewrite is a miss
    with open(path, "rb") as handle:
        return gzip.compress(handle.read(), compresslevel=6, mtime=0)


def build_app(directory: Path) -> Starlette:
    """The Starlette application serving ``directory`` (GET and HEAD)."""
    root = Path(directory)

    async def resource(request: Request) -> Response:
        name, parsed = request.path_params["path"], None
        if name == "checkpoint":
            kind, cache = CHECKPOINT_TYPE, CHECKPOINT
        elif (parsed := parse_tile_path(name)) is not None:
            kind, cache = TILE_TYPE, IMMUTABLE if parsed[2] == TILE_WIDTH else PARTIAL
        else:
            return _not_found()
        path = root / name
        try:
            stat = os.stat(path)
        except OSError:
            return _not_found()
        if not path.is_file():
            return _not_found()
        headers = {"Cache-Control": cache, **_COMMON}
        if parsed is not None and parsed[0] == ENTRIES_LEVEL:
            headers["Vary"] = "Accept-Encoding"
            if _accepts_gzip(request.headers.get("accept-encoding", "")):
                body = await run_in_threadpool(_gzipped, str(path), stat.st_size, stat.st_mtime_ns)
                headers |= {"Content-Encoding": "gzip", "Content-Length": str(len(body))}
                return Response(b"" if request.method == "HEAD" else body, media_type=kind, headers=headers)
        return FileResponse(path, media_type=kind, headers=headers, stat_result=stat)

    async def index(request: Request) -> Response:
        return _not_found()  # no listing

    return Starlette(
        routes=[
            *health.routes(),  # /metrics, /healthz, /readyz: not tlog-tiles paths
            Route("/", index, methods=["GET", "HEAD"]),
            Route("/{path:path}", resource, methods=["GET", "HEAD"]),
        ],
        middleware=[Middleware(health.HttpMetricsMiddleware)],
    )


async def serve(directory: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Serve ``directory`` until Ctrl-C or SIGTERM."""
    if not directory.is_dir():
        raise TilesServeError(f"{directory}: tiles directory not found")
    with bind(host, port, error=TilesServeError) as sock:
        ready = f"tiles: serving {directory} on {origin('http', host, sock)}/"
        health.HEALTH.set("ready")
        await serve_app(build_app(directory), sock, ready=ready, log=log)
        log.info("tiles: stopped")
