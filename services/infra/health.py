"""``/metrics``, ``/healthz`` and ``/readyz`` on every certlife service, and HTTP latency.

HTTP services (API, witness, tiles) put :func:`routes` before their own and
wrap their application in :class:`HttpMetricsMiddleware` (or call
:func:`install` on an application already built). The other services
(commands, relay, projections, publisher) run :func:`serve_metrics`: a small
server on ``CERTLIFE_METRICS_HOST``:``CERTLIFE_METRICS_PORT`` (port 0: any
free port) that announces itself in one log line, ``metrics on http://HOST:PORT``.

``/healthz`` answers 200 while the process runs. ``/readyz`` answers 503 until
the service says it is connected (:data:`HEALTH`), then 200 with its state in
the body: ``active`` or ``standby`` for the single-active services (command
service, relay), ``ready`` for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certlife.domain.errors import CertlifeError
from certlife.services.infra import metrics
from certlife.services.infra.http_server import bind, origin

#: States in which ``/readyz`` answers 200.
READY_STATES = frozenset({"active", "standby", "ready"})


class Health:
    """What ``/readyz`` reports: ``starting`` until the service sets another state."""

    def __init__(self) -> None:
        """Start in ``starting`` (not ready)."""
        self.state = "starting"

    def set(self, state: str) -> None:
        """``active``/``standby`` (single-active services), ``ready``, or ``stopping``."""
        self.state = state

    @property
    def ready(self) -> bool:
        """True once connected (active, standby or ready)."""
        return self.state in READY_STATES


#: The process's health.
HEALTH = Health()


async def _metrics(request: Request) -> Response:
    return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def _readyz(request: Request) -> Response:
    return JSONResponse({"ready": HEALTH.ready, "state": HEALTH.state}, 200 if HEALTH.ready else 503)


def routes() -> list[BaseRoute]:
    """``/metrics``, ``/healthz`` and ``/readyz`` (GET), to put before an application's own routes."""
    return [
        Route("/metrics", _metrics, methods=["GET"]),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz, methods=["GET"]),
    ]


class HttpMetricsMiddleware:
    """ASGI middleware observing each HTTP request's latency by route template, method and status.

    The route is the template Starlette matched (``/v1/certificates/{number}``,
    never the requested path, so the label set stays small); ``unmatched`` when
    none did. The time runs until the response's last byte is handed over.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app
        self.histogram = metrics.http().seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time one request (other scopes pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.histogram.labels(route, scope["method"], str(status)).observe(time.perf_counter() - started)


def install(app: Starlette) -> None:
    """Add :func:`routes` (first) and :class:`HttpMetricsMiddleware` to an application not yet started."""
    app.router.routes[:0] = routes()
    app.add_middleware(HttpMetricsMiddleware)


class MetricsServeError(CertlifeError, code="metrics-serve"):
    """The metrics server cannot listen (one line)."""


class _Background(uvicorn.Server):
    """uvicorn inside a service's event loop: the service, not uvicorn, handles SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_metrics(host: str, port: int | None, log: logging.Logger) -> AsyncIterator[str | None]:
    """Serve :func:`routes` on ``host``:``port`` while the block runs; its URL (None: ``port`` None, off).

    Logs ``metrics on http://HOST:PORT`` once listening.
    """
    if port is None:
        yield None
        return
    try:
        listening = bind(host, port, error=MetricsServeError)
    except MetricsServeError as exc:
        raise MetricsServeError(f"metrics (CERTLIFE_METRICS_HOST, CERTLIFE_METRICS_PORT): {exc}") from None
    with listening as sock:
        url = origin("http", host, sock)
        config = uvicorn.Config(
            Starlette(routes=routes()),
            log_config=None,
            log_level="warning",  # the announcement below is the one line (not uvicorn's "Started server")
            access_log=False,
            lifespan="off",
        )
        server = _Background(config)
        task: asyncio.Task[Any] = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            task.result()  # uvicorn could not start: its error, not a silent missing endpoint
        log.info("metrics on %s", url)
        try:
            yield url
        finally:
            server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
