"""Where the lookup page gets its data: the API's own JSON routes, answered in process.

The page shows exactly what ``/v1/...`` answers (the same read-model queries,
problem details and checkpoint), so it calls those routes through the ASGI
application itself (no socket, no second code path). The calls carry the
browser's address in ``X-Forwarded-For`` so per-client limits see the person,
not the page. :class:`LookupSource` is the port; tests or another adapter may
supply their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from starlette.types import ASGIApp

#: Search fields the page offers -> the JSON route's query parameter.
SEARCH_FIELDS: dict[str, str] = {
    "number": "number_prefix",
    "holder": "holder",
    "manufacturer": "manufacturer",
    "product": "product",
    "model": "model",
    "standard": "standard",
    "scheme": "scheme",
    "factory": "factory",
    "status": "status",
}
#: Rows per results page.
PAGE_SIZE = 50


@dataclass(frozen=True)
class Answer:
    """One JSON answer: its HTTP status and body (a problem's ``detail`` when it failed)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300

    @property
    def problem(self) -> str:
        """The problem's one-line explanation (empty for a success)."""
        if self.ok:
            return ""
        return str(self.body.get("detail") or self.body.get("title") or f"HTTP {self.status}")


class LookupSource(Protocol):
    """The queries the page needs (each answers like the JSON route of the same name)."""

    async def search(self, field: str, query: str, cursor: str | None, client: str) -> Answer:
        """``GET /v1/certificates?<field>=<query>`` (one page)."""

    async def certificate(self, number: str, client: str) -> Answer:
        """``GET /v1/certificates/{number}``."""

    async def history(self, number: str, client: str) -> Answer:
        """``GET /v1/certificates/{number}/history``."""


class JsonRoutes:
    """A :class:`LookupSource` calling the application's ``/v1`` routes in process."""

    def __init__(self, app: ASGIApp) -> None:
        self._transport = httpx.ASGITransport(app=app)

    async def _get(self, path: str, params: dict[str, str], client: str) -> Answer:
        headers = {"accept": "application/json", "x-forwarded-for": client}
        async with httpx.AsyncClient(transport=self._transport, base_url="http://page.internal") as http:
            response = await http.get(path, params=params, headers=headers)
        try:
            body = response.json()
        except ValueError:
            body = {"detail": f"the API answered HTTP {response.status_code} without JSON"}
        return Answer(response.status_code, body if isinstance(body, dict) else {"items": body})

    async def search(self, field: str, query: str, cursor: str | None, client: str) -> Answer:
        """One page of search results for ``field`` (a key of :data:`SEARCH_FIELDS`)."""
        params = {SEARCH_FIELDS[field]: query, "limit": str(PAGE_SIZE)}
        if cursor:
            params["cursor"] = cursor
        return await self._get("/v1/certificates", params, client)

    async def certificate(self, number: str, client: str) -> Answer:
        """The current status of one certificate."""
        return await self._get(f"/v1/certificates/{quote(number, safe='')}", {}, client)

    async def history(self, number: str, client: str) -> Answer:
        """Every event of one certificate."""
        return await self._get(f"/v1/certificates/{quote(number, safe='')}/history", {}, client)
