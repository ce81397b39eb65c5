"""HTTP side of reading C2SP tlog-tiles: one keep-alive client, bounded concurrency, retries.

:class:`TileFetcher` GETs ``<prefix>/checkpoint``, hash tiles and entry
bundles with httpx: at most ``concurrency`` requests in flight over kept-alive
connections, a timeout per request, and retries with exponential backoff on
5xx / 429 answers, timeouts and dropped or refused connections. A response
larger than the resource can be (a full tile is 8,192 bytes) is refused
unread beyond the limit. What cannot be read becomes one
:class:`~certlife.services.partner.inputs.SourceError` line (exit 2): HTTP
404 and other 4xx at once, TLS failures at once, a refused connection or 5xx
after the last retry.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
from types import TracebackType

import httpx

from certlife.services.partner.inputs import SourceError

#: Requests in flight at once (and kept-alive connections).
CONCURRENCY = 8
#: Seconds to connect, and between bytes of an answer.
TIMEOUT = 30.0
#: Attempts per resource (the first plus retries).
ATTEMPTS = 4
#: Backoff before the first retry, doubled before each further one (plus up to 50% jitter).
BACKOFF = 0.1
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class NotFound(SourceError):
    """The resource answered HTTP 404 (a partial tile may be gone once its full tile exists)."""

    code = "tile-not-found"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes (httpx wraps the socket's error in one or two of its own)."""
    found: list[BaseException] = []
    at: BaseException | None = exc
    while at is not None and at not in found:
        found.append(at)
        at = at.__cause__ or at.__context__
    return found


def _tls_problem(exc: Exception) -> bool:
    return any(isinstance(e, ssl.SSLError) for e in _chain(exc)) or "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host not found"
    return str(exc) or type(exc).__name__


class TileFetcher:
    """GETs resources below one tiles URL prefix (``http://`` or ``https://``); an async context manager."""

    def __init__(
        self,
        url: str,
        *,
        concurrency: int = CONCURRENCY,
        timeout: float = TIMEOUT,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Prepare a client for ``url`` (a trailing ``/`` is added); nothing connects before a GET."""
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"{url}: expected an http:// or https:// tiles URL")
        self.url = url if url.endswith("/") else url + "/"
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.requests = 0
        self._limit = asyncio.Semaphore(concurrency)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"Accept-Encoding": "gzip, identity", "User-Agent": "certverify"},
            follow_redirects=True,
            transport=transport,
        )

    async def __aenter__(self) -> TileFetcher:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def get(self, path: str, limit: int) -> bytes:
        """The body of ``<prefix>/path`` (at most ``limit`` bytes), retried as the module says.

        Raises :class:`NotFound` on 404 and :class:`SourceError` for every other failure.
        """
        url = self.url + path
        for attempt in range(1, self.attempts + 1):
            retry_why = await self._try(url, limit)
            if isinstance(retry_why, bytes):
                return retry_why
            if attempt == self.attempts:
                raise SourceError(f"{url}: {retry_why} (after {self.attempts} attempts)")
            delay = self.backoff * 2 ** (attempt - 1)
            await asyncio.sleep(delay * (1 + random.random() / 2))
        raise AssertionError("unreachable")

    async def _try(self, url: str, limit: int) -> bytes | str:
        """One GET: the body, or why it is worth retrying; raises what is not."""
        async with self._limit:
            self.requests += 1
            try:
                async with self._client.stream("GET", url) as response:
                    if response.status_code == 404:
                        raise NotFound(f"{url}: not found (HTTP 404)")
                    if response.status_code in _RETRY_STATUS:
                        return f"HTTP {response.status_code}"
                    if response.status_code != 200:
                        raise SourceError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
                    body = bytearray()
                    async for part in response.aiter_bytes():
                        body += part
                        if len(body) > limit:
                            raise SourceError(f"{url}: larger than {limit} bytes, not read further")
                    return bytes(body)
            except httpx.ConnectError as exc:
                if _tls_problem(exc):
                    raise SourceError(f"{url}: TLS failed: {exc}") from None
                return f"cannot connect: {_describe(exc)}"
            except httpx.TransportError as exc:  # timeouts, dropped connections, protocol errors
                if _tls_problem(exc) and not isinstance(exc, httpx.TimeoutException):
                    raise SourceError(f"{url}: TLS failed: {exc}") from None
                return _describe(exc)
            except httpx.InvalidURL as exc:
                raise SourceError(f"{url}: {exc}") from None
