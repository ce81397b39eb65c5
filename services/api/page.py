"""The public lookup page: search, results, a certificate page with a Verify button.

Served by the API process next to its JSON routes (:func:`install`). Every page
is rendered on the server (a plain GET form, so lookup works without
JavaScript); ``static/verify.js`` adds the in-browser verification of the
signed record, its inclusion proof and the signed checkpoint against
``/v1/trust.json``. Templates autoescape; assets are local files under
``/static`` (no CDN, no web fonts). The page routes stay out of the OpenAPI
document, which describes the JSON API only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from certlife.services.api.page_data import SEARCH_FIELDS, Answer, JsonRoutes, LookupSource

_HERE = Path(__file__).parent
TEMPLATES = _HERE / "templates"
STATIC = _HERE / "static"
#: Longest search text accepted (longer is a user mistake, answered in one line).
MAX_QUERY = 200
_FIELD_LABELS = {
    "number": "Certificate number (prefix)",
    "holder": "Holder",
    "manufacturer": "Manufacturer",
    "product": "Product",
    "model": "Model",
    "standard": "Standard",
    "scheme": "Scheme",
    "factory": "Factory",
    "status": "Status",
}
_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",  # a status page is revalidated every time
}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["fields"] = _FIELD_LABELS
    env.filters["day"] = _day
    return env


def _day(value: object) -> object:
    """A midnight-UTC instant as its calendar day (validity bounds are days); anything else unchanged."""
    if isinstance(value, str) and value.endswith("T00:00:00Z"):
        return value[:10]
    return value


def install(app: FastAPI, source: LookupSource | None = None) -> None:
    """Add the lookup page (``/``, ``/search``, ``/certificates/{number}``) and ``/static`` to ``app``."""
    env = _environment()
    data: LookupSource = source or JsonRoutes(app)

    def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    def client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    @app.get("/", include_in_schema=False)
    async def home() -> HTMLResponse:
        return render("search.html", field="number", query="", results=None)

    @app.get("/search", include_in_schema=False)
    async def search(
        request: Request, q: str = "", field: str = "number", cursor: str | None = None
    ) -> HTMLResponse:
        query = q.strip()
        problem = _check_search(query, field)
        if problem:
            return render("search.html", 400, field=field, query=q, results=None, problem=problem)
        answer = await data.search(field, query, cursor, client(request))
        if not answer.ok:
            return render(
                "search.html", answer.status, field=field, query=q, results=None, problem=answer.problem
            )
        return render(
            "search.html",
            field=field,
            query=query,
            results=answer.body.get("items", []),
            next_cursor=answer.body.get("next"),
        )

    @app.get("/certificates/{number}", include_in_schema=False)
    async def certificate(request: Request, number: str) -> HTMLResponse:
        current = await data.certificate(number, client(request))
        if not current.ok:
            return render("error.html", current.status, number=number, problem=current.problem)
        history: Answer = await data.history(number, client(request))
        events = _events(history.body) if history.ok else []
        return render("certificate.html", number=number, answer=current.body, events=events)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _check_search(query: str, field: str) -> str:
    if field not in SEARCH_FIELDS:
        return f"unknown search field {field!r}: choose one of {', '.join(SEARCH_FIELDS)}"
    if not query:
        return "enter something to search for"
    if len(query) > MAX_QUERY:
        return f"the search text is longer than {MAX_QUERY} characters"
    return ""


def _events(body: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("events", "items", "history"):
        value = body.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []
