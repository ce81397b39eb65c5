"""Harness for the lookup page's browser tests: a served app, a signed log, Chromium on 127.0.0.1 only.

:func:`stub_api` answers the ``/v1`` routes the page uses, in the JSON shape of
``services/api/answers.py``, from a real signed log (tests/unit/logbuilder.py:
Ed25519 records, RFC 9162 inclusion proofs, a signed checkpoint note), so the
page can be tested before or apart from the database-backed API.
:func:`serve` runs any ASGI app on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from certlife.contracts.merkle import inclusion_proof, leaf_hash
from certlife.services.api.page import install
from certlife.services.infra.http_server import bind
from tests.unit.logbuilder import LogBuilder, certificate


def signed_log() -> tuple[LogBuilder, str]:
    """A log of four certificates (one suspended, one with non-ASCII data) and its signed checkpoint."""
    log = LogBuilder()
    umlaut = certificate("CB-2025-0002") | {
        "holder": "Müller Prüftechnik GmbH",
        "product": "Ladesäule „Ω-22“",
    }
    log.add("CB-2025-0001", "issued", "valid")
    log.add("CB-2025-0002", "issued", "valid", certificate=umlaut)
    log.add("CB-2025-0003", "issued", "valid")
    log.add(
        "CB-2025-0002", "suspended", "suspended", certificate=umlaut, reason="audit overdue — résumé pending"
    )
    log.add("XX-9", "issued", "valid")
    return log, log.checkpoint()


def stub_api(log: LogBuilder, note: str) -> FastAPI:
    """The ``/v1`` routes the page uses, answered from ``log`` (newest record per number)."""
    app = FastAPI()
    leaves = [leaf_hash(raw) for raw in log.records]
    records = [json.loads(raw) for raw in log.records]

    def newest(number: str) -> int | None:
        found = [i for i, r in enumerate(records) if r["certificate"]["number"] == number]
        return found[-1] if found else None

    def summary(i: int) -> dict[str, Any]:
        r = records[i]
        return {"number": r["certificate"]["number"], "status": r["status"], "logIndex": i} | r["certificate"]

    @app.get("/v1/trust.json")
    async def trust() -> dict[str, Any]:
        return log.trust().to_json()

    @app.get("/v1/certificates")
    async def search(number_prefix: str = "", holder: str = "", limit: int = 50) -> dict[str, Any]:
        last = {r["certificate"]["number"]: i for i, r in enumerate(records)}
        hits = [
            summary(i)
            for number, i in sorted(last.items())
            if number.startswith(number_prefix)
            and holder.lower() in records[i]["certificate"]["holder"].lower()
        ]
        return {"items": hits[:limit], "next": None}

    @app.get("/v1/certificates/{number}", response_model=None)
    async def status(number: str, proof: int = 0) -> dict[str, Any] | JSONResponse:
        i = newest(number)
        if i is None:
            problem = {"type": "about:blank", "title": "Not Found", "status": 404}
            problem["detail"] = f"no certificate {number}"
            return JSONResponse(problem, status_code=404, media_type="application/problem+json")
        r = records[i]
        body = {"number": number, "status": r["status"], "recordStatus": r["status"], "event": r["event"]}
        body |= {"certificate": r["certificate"], "logIndex": i, "checkpoint": {"size": len(leaves)}}
        if proof:
            path = inclusion_proof(leaves, i, len(leaves))
            inclusion = [base64.b64encode(h).decode() for h in path]
            body["proof"] = {"record": log.records[i].decode(), "leafIndex": i, "treeSize": len(leaves)}
            body["proof"] |= {"inclusion": inclusion, "checkpoint": note}
        return body

    @app.get("/v1/certificates/{number}/history")
    async def history(number: str) -> dict[str, Any]:
        events = [
            {
                "logIndex": i,
                "seq": r["seq"],
                "event": r["event"],
                "status": r["status"],
                "reason": r["reason"],
            }
            | {"effectiveAt": r["effectiveAt"], "recordedAt": r["recordedAt"]}
            for i, r in enumerate(records)
            if r["certificate"]["number"] == number
        ]
        return {"number": number, "events": events}

    install(app)
    return app


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (any free port) in a thread; yield its origin."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
