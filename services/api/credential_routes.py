"""The credential routes: ``/statuslists/{purpose}`` and ``/issuer`` (contracts/CREDENTIALS.md).

Not under ``/v1``: their paths are the ids the credentials name
(``https://{origin}/statuslists/{purpose}``, ``https://{origin}/issuer``), so
a deployment serves the API at its log origin.

* ``GET /statuslists/{purpose}`` — the status list credential the publisher
  wrote last (``<tiles>/statuslists/<purpose>``), its exact published bytes
  (their SHA-256 is what the log commits), ``application/vc``. 404 problem
  ``unknown-status-list`` for another purpose, ``no-status-list`` before the
  first list.
* ``GET /issuer`` — the issuer's controller document: every credential key of
  the trust file that is not compromised (as ``issuer.json`` in an export).

Both follow :mod:`.conventions` (strong ETag, 304, Cache-Control: a list until
the next checkpoint is due, the issuer like the trust file) and allow any
origin to read them (``Access-Control-Allow-Origin: *``: browser verifiers).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from certlife.services.api import conventions
from certlife.services.api.problems import Problem

#: Media type of a Verifiable Credential (VC Data Model 2.0 §C).
VC_MEDIA_TYPE = "application/vc"
STATUS_LIST_DIR = "statuslists"
ISSUER_MAX_AGE = 300

router = APIRouter(dependencies=[Depends(conventions.known_parameters_only)])


def issuer_document(trust_bytes: bytes) -> bytes:
    """The controller document of the trust file's credential keys that are not compromised."""
    from certlife.contracts.trust import TrustFile
    from certlife.services.partner.published import issuer_document as document

    return document(TrustFile.from_bytes(trust_bytes))


@router.get(
    "/statuslists/{purpose}",
    response_model=None,
    responses={
        200: {"content": {VC_MEDIA_TYPE: {"schema": {"type": "object"}}}, "description": "the list"},
        **conventions.problem_responses(404),
    },
    summary="A status list credential (W3C Bitstring Status List), as published and committed",
)
async def status_list(
    request: Request,
    purpose: Annotated[str, Path(description="revocation or suspension", max_length=32)],
) -> Response:
    """The newest status list credential of ``purpose``: its exact bytes, whose SHA-256 the log commits."""
    from certlife.contracts.credentials.ids import PURPOSES

    if purpose not in PURPOSES:
        raise Problem(404, "unknown-status-list", f"no status list {purpose!r}: one of {', '.join(PURPOSES)}")
    ctx: Any = request.app.state.api
    path = ctx.tiles.directory / STATUS_LIST_DIR / purpose
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Problem(404, "no-status-list", f"no {purpose} list published yet") from None
    max_age = conventions.max_age(ctx, ctx.tiles.current())
    return _public(conventions.conditional(request, data, max_age, media_type=VC_MEDIA_TYPE))


@router.get(
    "/issuer",
    response_model=None,
    responses={
        200: {"content": {"application/json": {"schema": {"type": "object"}}}},
        **conventions.problem_responses(),
    },
    summary="The issuer's controller document: its credential keys",
)
async def issuer(request: Request) -> Response:
    """The controller document listing the credential keys that are not compromised (``issuer.json``)."""
    ctx: Any = request.app.state.api
    return _public(conventions.conditional(request, issuer_document(ctx.trust), ISSUER_MAX_AGE))


def _public(response: Response) -> Response:
    """Any origin may read it: verifiers running in a browser fetch lists and keys cross-origin."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
