"""``certctl serve api``: the HTTP status API (and the lookup page) until Ctrl-C or SIGTERM.

Listens on ``--host``/``--port`` or ``CERTLIFE_API_HOST``/``CERTLIFE_API_PORT``
(default 127.0.0.1:8080; port 0: any free port); the line
``api: serving on http://HOST:PORT/`` says where once it listens. The
composition root (``bootstrap.open_api``) opens the read-only pool and reads the
trust file; this module binds the socket, adds the metrics/health routes and
the lookup page to the application, and serves it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
from collections.abc import Callable

from fastapi import FastAPI

from certlife.services.cli.exits import EXIT_OK
from certlife.services.infra.settings import Settings

log = logging.getLogger("certlife.api")


def extras() -> list[Callable[[FastAPI], None]]:
    """What the API process adds to the status API: ``/metrics``, ``/healthz``, ``/readyz``; the lookup page."""
    from certlife.services.infra import health

    out: list[Callable[[FastAPI], None]] = [health.install]
    try:
        page = importlib.import_module("certlife.services.api.page")
    except ModuleNotFoundError:
        return out
    out.append(page.install)
    return out


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the API with ``settings`` (``--host``/``--port`` override theirs)."""
    host = getattr(args, "host", None) or settings.api.host
    port = settings.api.port if getattr(args, "port", None) is None else args.port  # checked by certctl serve
    asyncio.run(_serve(settings, host, port))
    return EXIT_OK


async def _serve(settings: Settings, host: str, port: int) -> None:
    from certlife.services import bootstrap
    from certlife.services.api.app import ApiStartError
    from certlife.services.infra.health import HEALTH
    from certlife.services.infra.http_server import bind, origin, serve_app

    with bind(host, port, error=ApiStartError) as sock:
        async with bootstrap.open_api(settings, install_extra=extras()) as app:
            HEALTH.set("ready")
            await serve_app(app, sock, ready=f"api: serving on {origin('http', host, sock)}/", log=log)
    log.info("api: stopped")
