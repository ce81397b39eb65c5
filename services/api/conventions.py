"""The conventions every ``/v1`` route follows: conditional answers, cache lifetime, parameters.

Every answer carries a strong ``ETag`` — a hash of its exact body, so of the
record, its log index and the checkpoint it rests on — and honours
``If-None-Match`` with 304. ``Cache-Control: public, max-age=N``: N is the
time left until the next checkpoint is due — the relay's checkpoint interval
minus the age of the published checkpoint file, at least 1 s. A query
parameter a route does not take is a 400 problem, as is a page larger than
allowed or an instant that is not RFC 3339.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response

from certlife.contracts.verification.status import parse_time
from certlife.services.api.problems import PROBLEM_TYPE, Problem, ProblemDocument
from certlife.services.api.tiles_view import Published


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route's problems (400 and 429 always), and 304."""
    out: dict[int | str, dict[str, Any]] = {
        s: {"model": ProblemDocument, "content": {PROBLEM_TYPE: {}}, "description": "problem details"}
        for s in (400, 429, *statuses)
    }
    out[304] = {"description": "not modified (If-None-Match)"}
    return out


async def known_parameters_only(request: Request) -> None:
    """Refuse a query parameter the route does not take (400 ``unknown-parameter``)."""
    route = request.scope.get("route")
    known = {p.alias for p in route.dependant.query_params} if route is not None else set()
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise Problem(400, "unknown-parameter", f"unknown query parameter {unknown[0]!r}")


def max_age(ctx: Any, published: Published | None) -> int:
    """Seconds an answer may be cached: until the next checkpoint is due (module docstring)."""
    interval = ctx.options.checkpoint_interval
    if published is None:
        return 1
    age = time.time() - published.written
    return int(max(1.0, min(interval, interval - age)))


def conditional(request: Request, body: Any, max_age: int, media_type: str = "application/json") -> Response:
    """``body`` (JSON-able, or bytes) with its strong ETag and Cache-Control; 304 when the client has it."""
    data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    wanted = request.headers.get("if-none-match", "")
    if wanted.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in wanted.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant (``Z`` or an offset, ``T`` and ``Z`` in either case) in UTC; 400 otherwise."""
    text = text.upper()
    try:
        return parse_time(text)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or "T" not in text.upper():
        raise Problem(
            400, "malformed-instant", f"at={text!r} is not an RFC 3339 instant (2026-03-01T00:00:00Z)"
        )
    return value.astimezone(UTC)


def known_text(number: str) -> None:
    """A number with a NUL character is in no read model (PostgreSQL text cannot hold one): 404."""
    if "\x00" in number:
        raise Problem(404, "unknown-certificate", f"no certificate {number!r} in the read model")


def page_size(ctx: Any, limit: int | None) -> int:
    """The page size asked for, or the default; larger than allowed is a 400 problem."""
    if limit is None:
        return int(ctx.options.page_default)
    if limit > ctx.options.page_max:
        raise Problem(
            400, "page-too-large", f"limit={limit} exceeds the largest page, {ctx.options.page_max}"
        )
    return limit
