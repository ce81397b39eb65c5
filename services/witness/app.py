"""The witness's HTTP interface (Starlette): ``POST /add-checkpoint`` and ``GET /<origin hash>/checkpoint``.

Every refused request is one log line with its status and reason, never a
traceback; request bodies are limited to ``MAX_REQUEST_BYTES``.
"""

from __future__ import annotations

import hashlib
import logging
import re

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from certlife.contracts.cosignature import add_signature_lines
from certlife.contracts.errors import NoteError
from certlife.contracts.witness import (
    ADD_CHECKPOINT_PATH,
    CONFLICT_CONTENT_TYPE,
    MAX_REQUEST_BYTES,
    encode_conflict,
)
from certlife.services.infra import health
from certlife.services.infra.logrepeat import AUDIT
from certlife.services.witness.checks import CONFLICT, Refusal, Witness
from certlife.services.witness.store import WitnessStateError

log = logging.getLogger("certlife.witness")

TEXT = "text/plain; charset=utf-8"
PAYLOAD_TOO_LARGE, UNAVAILABLE = 413, 503
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Failures of the database session: the request is answered 503 and the client retries.
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, WitnessStateError)


def _clean(text: str) -> str:
    """One printable log line, whatever the client sent."""
    return _UNPRINTABLE.sub("?", text)[:300]


def _refused(request: Request, what: str, status: int, reason: str) -> None:
    client = request.client.host if request.client else "?"
    log.warning("refused %s from %s: %d %s", what, client, status, _clean(reason), extra=AUDIT)


async def _body(request: Request) -> bytes:
    """The request body, refused (413) as soon as it exceeds the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise Refusal(PAYLOAD_TOO_LARGE, f"body of {declared} bytes is over {MAX_REQUEST_BYTES}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise Refusal(PAYLOAD_TOO_LARGE, f"body over {MAX_REQUEST_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(witness: Witness) -> Starlette:
    """The ASGI application of ``witness``; its store's pool is opened and closed by the caller."""

    async def add_checkpoint(request: Request) -> Response:
        try:
            lines = await witness.add_checkpoint(await _body(request))
        except Refusal as exc:
            _refused(request, "add-checkpoint", exc.status, str(exc))
            if exc.status == CONFLICT and exc.size is not None:
                # Exactly the spec's type (no charset parameter, which media_type would add).
                return Response(
                    encode_conflict(exc.size), CONFLICT, headers={"content-type": CONFLICT_CONTENT_TYPE}
                )
            return Response(f"{exc}\n".encode(), exc.status, media_type=TEXT)
        except DATABASE_ERRORS as exc:
            _refused(request, "add-checkpoint", UNAVAILABLE, f"state unavailable: {type(exc).__name__}")
            return Response(b"witness state unavailable, retry\n", UNAVAILABLE, media_type=TEXT)
        return Response(lines.encode(), 200, media_type=TEXT)

    async def checkpoint(request: Request) -> Response:
        wanted = request.path_params["origin_hash"]
        try:
            logs = await witness.store.logs()
        except DATABASE_ERRORS as exc:
            _refused(request, "checkpoint", UNAVAILABLE, f"state unavailable: {type(exc).__name__}")
            return Response(b"witness state unavailable, retry\n", UNAVAILABLE, media_type=TEXT)
        for state in logs:
            if (
                hashlib.sha256(state.origin.encode()).hexdigest() == wanted
                and state.note
                and state.cosignature
            ):
                try:
                    body = add_signature_lines(state.note, [state.cosignature])
                except NoteError:
                    break
                return Response(body.encode(), 200, media_type=TEXT)
        return Response(b"no cosigned checkpoint for this origin\n", 404, media_type=TEXT)

    return Starlette(
        routes=[
            *health.routes(),  # /metrics, /healthz, /readyz
            Route(ADD_CHECKPOINT_PATH, add_checkpoint, methods=["POST"]),
            Route("/{origin_hash:str}/checkpoint", checkpoint, methods=["GET"]),
        ],
        middleware=[Middleware(health.HttpMetricsMiddleware)],
    )
