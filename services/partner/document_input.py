"""Read a credential or status list given as a FILE or an ``http(s)://`` URL, bounded in size.

Whatever cannot be read is a :class:`~certlife.services.partner.inputs.SourceError`
(one line, exit code 2): a missing file, an HTTP answer other than 200, a
refused connection, a body larger than the limit (never read past it).
"""

from __future__ import annotations

from certlife.contracts.credentials.document import MAX_DOCUMENT_BYTES
from certlife.services.partner.inputs import SourceError
from certlife.services.partner.limits import read_bounded

#: Seconds to connect, and between bytes of an answer.
TIMEOUT = 30.0
URL_SCHEMES = ("http://", "https://")


def read_document(spec: str, what: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of ``spec`` (a file path, or a URL fetched with GET), at most ``limit`` of them."""
    if spec.startswith(URL_SCHEMES):
        return _fetch(spec, what, limit)
    return read_bounded(spec, what, limit)


def _fetch(url: str, what: str, limit: int) -> bytes:
    import httpx

    try:
        with (
            httpx.Client(timeout=TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", url, headers={"Accept": "application/vc, application/json"}) as answer,
        ):
            if answer.status_code != 200:
                raise SourceError(f"{url}: {what}: HTTP {answer.status_code}")
            body = bytearray()
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise SourceError(f"{url}: {what} is larger than {limit} bytes; not read further")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise SourceError(f"{url}: cannot fetch the {what}: {type(exc).__name__}: {exc}") from None
