"""``build_app``: the status API's FastAPI application, from the dependencies it is handed.

The composition root (``certlife.services.bootstrap.open_api``) opens the
read-only PostgreSQL pool and reads the trust file; this module only wires:
problem details (:mod:`.problems`), the per-client rate limit, the request
size limit, one log line per 5xx, the ``/v1`` routes (:mod:`.routes`) and the
OpenAPI 3.1 document (``/openapi.json``, checked in as contracts/openapi.json).
``install_extra`` lets the lookup page and the metrics add their routes.

Clients are told apart by address; a request from a trusted proxy (loopback
by default: the lookup page calls the routes in process) is counted for the
first address of its ``X-Forwarded-For``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certlife.domain.errors import CertlifeError
from certlife.services.api import credential_routes, problems, routes
from certlife.services.api.ratelimit import TokenBuckets
from certlife.services.api.tiles_view import TilesView

log = logging.getLogger("certlife.api")

API_VERSION = "1"
DESCRIPTION = (
    "Certificate status from certlife's read models, each answer resting on a signed record in "
    "a Merkle log: with `?proof=1` the record, its inclusion proof and the cosigned checkpoint, "
    "verifiable with certverify's code against `/v1/trust.json`. Errors are RFC 9457 problem details."
)


class ApiStartError(CertlifeError, code="api-start"):
    """The API cannot start (trust file, address): one line."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiOptions:
    """Tuning of the API (``CERTLIFE_API_*``; see ``certlife.services.infra.settings``)."""

    #: Requests a second per client (0: no limit) and the burst a client may send at once.
    rate: float = 20.0
    burst: int = 40
    #: Largest ``limit`` of a page, and the default.
    page_max: int = 200
    page_default: int = 50
    #: Largest request body accepted (every route is a GET).
    max_body: int = 4096
    #: Seconds between the relay's checkpoints (``CERTLIFE_CHECKPOINT_INTERVAL``): cache lifetime, Retry-After.
    checkpoint_interval: float = 5.0
    #: Addresses whose ``X-Forwarded-For`` names the client.
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    clock: Callable[[], datetime] = field(default=_now, compare=False)


@dataclass
class ApiContext:
    """What the routes read: the pool (read-only role), the schema, the tiles and the trust file."""

    pool: asyncpg.Pool
    schema_sql: str
    tiles: TilesView
    trust: bytes
    options: ApiOptions


def client_of(request: Request, options: ApiOptions) -> str:
    """The address a request is counted for (module docstring)."""
    host = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and host in options.trusted_proxies:
        return forwarded.split(",")[0].strip() or host
    return host


def build_app(
    pool: asyncpg.Pool,
    schema_sql: str,
    tiles_dir: Path,
    trust: bytes,
    options: ApiOptions | None = None,
    *,
    install_extra: Sequence[Callable[[FastAPI], None]] = (),
) -> FastAPI:
    """The API application on ``pool`` (read-only role) and ``schema_sql`` (quoted), tiles and trust bytes."""
    options = options or ApiOptions()
    app = FastAPI(
        title="certlife status API",
        version=API_VERSION,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    app.state.api = ApiContext(pool, schema_sql, TilesView(tiles_dir), trust, options)
    problems.install(app)
    app.include_router(routes.router)
    app.include_router(credential_routes.router)
    _limits(app, options)
    for install in install_extra:
        install(app)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app


def _limits(app: FastAPI, options: ApiOptions) -> None:
    app.add_middleware(Guard, options=options)


class Guard:
    """ASGI middleware: the rate limit (429), the body limit (413), HEAD as GET without a body,
    500 for the unexpected, a log line per 5xx."""

    def __init__(self, app: ASGIApp, options: ApiOptions) -> None:
        """Guard ``app`` with ``options``' limits."""
        self.app, self.options = app, options
        self.buckets = TokenBuckets(options.rate, options.burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request, or refuse it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path, options = request.url.path, self.options
        wait = self.buckets.take(client_of(request, options))
        if wait:
            detail = f"more than {options.rate:g} requests a second from this client; retry after {wait} s"
            refusal = problems.problem_response(429, "rate-limited", detail, path, {"Retry-After": str(wait)})
            await refusal(scope, receive, send)
            return
        length = request.headers.get("content-length")
        if (length is not None and (not length.isdigit() or int(length) > options.max_body)) or (
            "chunked" in request.headers.get("transfer-encoding", "")
        ):
            detail = f"request bodies are limited to {options.max_body} bytes"
            await problems.problem_response(413, "body-too-large", detail, path)(scope, receive, send)
            return
        status = 0
        head = scope["method"] == "HEAD"  # answered as GET, without the body (RFC 9110 §9.3.2)
        if head:
            scope = {**scope, "method": "GET"}

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:  # the one place an unexpected error becomes a 500
            log.error("%s %s: 500: %s: %s", request.method, path, type(exc).__name__, exc)
            if not status:
                failed = problems.problem_response(500, "internal", "the server failed to answer", path)
                await failed(scope, receive, send)
            return
        if status >= 500:
            log.error("%s %s: %d", request.method, path, status)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s ``/v1`` routes (cached on the app)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version="3.1.0",
        description=app.description,
        # the /v1 and credential routes only (not the page's or the metrics')
        routes=[*routes.router.routes, *credential_routes.router.routes],
    )
    for path in doc.get("paths", {}).values():  # invalid input is a 400 problem, never FastAPI's 422
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    schemas = doc.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    app.openapi_schema = doc
    return doc
