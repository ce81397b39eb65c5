"""The ``/v1`` routes: status (with proof, or at an instant), history, search, expiring, counts, trust file.

Every answer follows :mod:`.conventions` (strong ETag and 304, Cache-Control
until the next checkpoint is due — the trust file: 300 s —, unknown
parameters refused).

A proof is taken in the published (cosigned) checkpoint's tree. A record the
publisher has not checkpointed yet has no proof: 503 ``not-checkpointed``
with ``Retry-After`` (the checkpoint interval); the same request without
``?proof=1`` answers at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from certlife.contracts.verification.status import StatusAnswer, decide_status
from certlife.projections.answer import latest_record
from certlife.projections.parked import parked_entry
from certlife.projections.queries import ReadModels
from certlife.services.api import answers, conventions, models, queries
from certlife.services.api.problems import Problem
from certlife.services.api.tiles_view import Published

TRUST_MAX_AGE = 300


router = APIRouter(prefix="/v1", dependencies=[Depends(conventions.known_parameters_only)])


def _ctx(request: Request) -> Any:
    return request.app.state.api


Number = Annotated[str, Path(description="the certificate number", min_length=1, max_length=200)]
Limit = Annotated[
    int | None,
    Query(
        ge=1,
        description="results per page (default 50, at most 200: more is a 400 page-too-large problem)",
        json_schema_extra={"maximum": 200},
    ),
]


@router.get(
    "/certificates/{number}",
    response_model=None,
    responses={200: {"model": models.CertificateStatus}, **conventions.problem_responses(404, 503)},
    summary="Status of a certificate",
)
async def certificate(
    request: Request,
    number: Number,
    proof: Annotated[
        bool, Query(description="add the signed record, its inclusion proof and checkpoint")
    ] = False,
    at: Annotated[
        str | None,
        Query(
            description="RFC 3339 instant: the status then, from the history",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
) -> Response:
    """The certificate's status now (or at ``at``), with the log index and checkpoint it rests on."""
    ctx = _ctx(request)
    instant = None if at is None else conventions.parse_instant(at)
    conventions.known_text(number)
    published = ctx.tiles.current()
    async with ctx.pool.acquire() as conn:
        if instant is None:
            answer, row = await _current(conn, ctx, number, published)
        else:
            answer, row = await _at(conn, ctx, number, published, instant)
    body = answers.status_body(answer, row, instant)
    if proof:
        body["proof"] = _proof(ctx, published, answer)
    return conventions.conditional(request, body, conventions.max_age(ctx, published))


async def _current(
    conn: Any, ctx: Any, number: str, published: Published | None
) -> tuple[StatusAnswer, dict[str, Any]]:
    row, position = await queries.current(conn, ctx.schema_sql, number)
    if row is None:
        raise Problem(404, "unknown-certificate", f"no certificate {number!r} in the read model")
    parked = None
    if row["status"] == "unavailable":
        parked = await parked_entry(
            conn, ctx.schema_sql, "certificates", position["generation"], row["parked_index"]
        )
    latest = latest_record(row)
    checkpoint = answers.newest_checkpoint(published, position["checkpoint_size"], latest.index)
    details = None if parked is None else {k: v for k, v in parked.items() if k != "parkedAt"}
    answer = decide_status(
        number,
        latest,
        checkpoint,
        now=ctx.options.clock(),
        parked=details,
        source_updated_at=position["updated_at"],
    )
    return answer, row


async def _at(
    conn: Any, ctx: Any, number: str, published: Published | None, instant: datetime
) -> tuple[StatusAnswer, dict]:
    rows = await queries.history(conn, ctx.schema_sql, number)
    if not rows:
        raise Problem(404, "unknown-certificate", f"no certificate {number!r} in the read model")
    row = answers.row_at(rows, instant)
    if row is None:
        first = min((r["effective_at"] for r in rows if r["effective_at"] is not None), default=None)
        since = "" if first is None else f" (its first record takes effect {answers.iso(first)})"
        raise Problem(
            404,
            "not-yet-issued",
            f"certificate {number!r} had no record in effect at {answers.iso(instant)}{since}",
        )
    position = await ReadModels(conn, ctx.schema_sql).position()
    checkpoint = answers.newest_checkpoint(published, position.checkpoint_size, row["log_index"])
    return answers.status_at(number, row, checkpoint, instant), row


def _proof(ctx: Any, published: Published | None, answer: StatusAnswer) -> dict[str, Any]:
    index = answer.index
    interval = max(1, round(ctx.options.checkpoint_interval))
    if index is None or published is None or index >= published.size:
        size = 0 if published is None else published.size
        raise Problem(
            503,
            "not-checkpointed",
            f"record {index} is not in the published checkpoint yet (size {size}); retry after {interval} s",
            {"Retry-After": str(interval)},
        )
    record = ctx.tiles.record(published, index)
    return answers.proof_body(record, index, ctx.tiles.inclusion(published, index), published)


@router.get(
    "/certificates/{number}/history",
    response_model=None,
    responses={200: {"model": models.History}, **conventions.problem_responses(404)},
    summary="History of a certificate",
)
async def history(request: Request, number: Number) -> Response:
    """Every record of the certificate, in log order."""
    ctx = _ctx(request)
    conventions.known_text(number)
    async with ctx.pool.acquire() as conn:
        rows = await queries.history(conn, ctx.schema_sql, number)
    if not rows:
        raise Problem(404, "unknown-certificate", f"no certificate {number!r} in the read model")
    body = {"number": number, "events": [answers.history_entry(r) for r in rows]}
    return conventions.conditional(request, body, conventions.max_age(ctx, ctx.tiles.current()))


Filter = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get(
    "/certificates",
    response_model=None,
    responses={200: {"model": models.SearchPage}, **conventions.problem_responses()},
    summary="Search certificates",
)
async def search(
    request: Request,
    number_prefix: Filter = None,
    holder: Filter = None,
    manufacturer: Filter = None,
    product: Filter = None,
    model: Filter = None,
    standard: Filter = None,
    scheme: Filter = None,
    factory: Filter = None,
    status: Filter = None,
    limit: Limit = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=400,
            pattern="^[^\\x00]*$",
            description="`next` of the previous page: the page starts after this number",
        ),
    ] = None,
) -> Response:
    """Certificates matching every filter given, by number (holder, manufacturer, product: substring)."""
    ctx = _ctx(request)
    page = conventions.page_size(ctx, limit)
    given = {
        "number_prefix": number_prefix,
        "holder": holder,
        "manufacturer": manufacturer,
        "product": product,
        "model": model,
        "standard": standard,
        "scheme": scheme,
        "factory": factory,
        "status": status,
    }
    filters = {k: v for k, v in given.items() if v is not None}
    after = cursor  # the number the page continues after
    rows: list[dict[str, Any]] = []
    more = False
    if not any("\x00" in v for v in filters.values()):  # stored text never holds NUL: nothing matches
        async with ctx.pool.acquire() as conn:
            rows, more = await queries.search(conn, ctx.schema_sql, filters, after, page)
    now = ctx.options.clock()
    body = {
        "items": [answers.summary(r, now) for r in rows],
        "next": rows[-1]["number"] if more and rows else None,
        "limit": page,
    }
    return conventions.conditional(request, body, conventions.max_age(ctx, ctx.tiles.current()))


@router.get(
    "/expiring",
    response_model=None,
    responses={200: {"model": models.Expiring}, **conventions.problem_responses()},
    summary="Certificates expiring soon",
)
async def expiring(
    request: Request,
    days: Annotated[int, Query(ge=0, le=3660, description="validity ends within this many days")] = 30,
    limit: Limit = None,
) -> Response:
    """Valid or suspended certificates whose validity ends within ``days`` days, soonest first."""
    ctx = _ctx(request)
    page = conventions.page_size(ctx, limit)
    now = ctx.options.clock()
    async with ctx.pool.acquire() as conn:
        rows, more = await queries.expiring(conn, ctx.schema_sql, now, days, page)
    body = {"days": days, "items": [answers.summary(r, now) for r in rows], "truncated": more}
    return conventions.conditional(request, body, conventions.max_age(ctx, ctx.tiles.current()))


@router.get(
    "/counts",
    response_model=None,
    responses={200: {"model": models.Counts}, **conventions.problem_responses()},
    summary="Certificates by status and scheme",
)
async def counts(request: Request) -> Response:
    """How many certificates there are per status, per scheme and per both."""
    ctx = _ctx(request)
    async with ctx.pool.acquire() as conn:
        rows = await queries.counts(conn, ctx.schema_sql)
    by_status: dict[str, int] = {}
    by_scheme: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["n"]
        scheme = r["scheme"] or "(unknown)"
        by_scheme[scheme] = by_scheme.get(scheme, 0) + r["n"]
    body = {
        "total": sum(by_status.values()),
        "byStatus": by_status,
        "byScheme": by_scheme,
        "byStatusAndScheme": [{"status": r["status"], "scheme": r["scheme"], "count": r["n"]} for r in rows],
    }
    return conventions.conditional(request, body, conventions.max_age(ctx, ctx.tiles.current()))


@router.get(
    "/trust.json",
    response_model=None,
    responses={
        200: {"content": {"application/json": {"schema": {"type": "object"}}}},
        **conventions.problem_responses(),
    },
    summary="The published trust file",
)
async def trust(request: Request) -> Response:
    """The trust file answers verify against (contracts/LOG.md §9): the keys and the log origin."""
    return conventions.conditional(request, _ctx(request).trust, TRUST_MAX_AGE)
