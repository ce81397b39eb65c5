"""RFC 9457 problem details: every error the API answers, as ``application/problem+json``.

A route raises :class:`Problem` (status, a short code, one line of detail);
:func:`install` turns it, FastAPI's validation errors, unknown paths and
methods into problem documents. Nothing else reaches a client: an unexpected
exception is answered by the application's middleware with a bare 500
problem and logged on one line (``certlife.services.api.app``), never with a
stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from certlife.domain.errors import CertlifeError

PROBLEM_TYPE = "application/problem+json"
#: ``type`` of every certlife problem: this prefix and its code (a URN, so it never resolves to a page).
TYPE_PREFIX = "urn:certlife:problem:"

_TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many requests",
    500: "Internal error",
    503: "Not available yet",
}


class ProblemDocument(BaseModel):
    """An RFC 9457 problem (the OpenAPI schema of every error answer)."""

    type: str = Field(description="`urn:certlife:problem:<code>`")
    title: str
    status: int
    detail: str
    instance: str = Field(description="the request path")
    code: str = Field(description="the short problem code (also the end of `type`)")


class Problem(CertlifeError, code="problem"):
    """An error answer: HTTP ``status``, a ``code`` and one line of ``detail``; ``headers`` go with it."""

    def __init__(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
        """A problem to answer with."""
        super().__init__(detail, code=code)
        self.status, self.detail = status, detail
        self.headers = dict(headers or {})


def problem_response(
    status: int, code: str, detail: str, instance: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The ``application/problem+json`` response of a problem."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_TYPE)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Answer :class:`Problem`, validation errors and unknown routes as problem documents."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc.status, exc.code, exc.detail, request.url.path, exc.headers)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(400, "invalid-parameter", _validation_detail(exc), request.url.path)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "no-such-route", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        detail = (
            str(exc.detail) if exc.status_code not in (404, 405) else f"{request.method} {request.url.path}"
        )
        return problem_response(
            exc.status_code,
            code,
            f"{_TITLES.get(exc.status_code, 'Error')}: {detail}",
            request.url.path,
            exc.headers,
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)
