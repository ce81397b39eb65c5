"""Harness for the lookup page's browser tests: a served app, a signed log, Chromium on 127.0.0.1 only.

:func:`real_api` is the API process's own app (``build_app`` + the page) on
read models filled by the projections' code (:func:`read_models`) and tiles
built from the same log (:func:`tiles`); :func:`stub_api` answers the ``/v1`` routes the page uses, in the JSON shape of
``services/api/answers.py``, from a real signed log (tests/unit/logbuilder.py:
Ed25519 records, RFC 9162 inclusion proofs, a signed checkpoint note), so the
page can be tested before or apart from the database-backed API.
:func:`serve` runs any ASGI app on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from certlife.contracts.cosignature import CosignatureSigner, add_signature_lines
from certlife.contracts.merkle import inclusion_proof, leaf_hash
from certlife.contracts.notes import note_signatures
from certlife.projections.apply import apply_reads
from certlife.projections.batch import Message, read_messages
from certlife.projections.config import ProjectionConfig
from certlife.projections.registry import PROJECTIONS
from certlife.projections.tracking import create_tracking, ensure_projection
from certlife.services.api.page import install
from certlife.services.infra.http_server import bind
from certlife.services.tiles.build import build_tiles
from tests.unit.logbuilder import LogBuilder, certificate, private_key


def signed_log() -> tuple[LogBuilder, str]:
    """A log of five certificates (one suspended, two with non-ASCII data, one with markup) and its checkpoint, cosigned by a witness."""
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
    awkward = {"holder": '<script>alert(1)</script> & Co "Ltd"', "models": ["😀-emoji", "a\\b", "zé́"]}
    log.add("ZZ-1", "issued", "valid", certificate=certificate("ZZ-1") | awkward, reason="nbsp\u00a0end")
    note = log.checkpoint()
    witness = CosignatureSigner("witness.test/w1", private_key("witness"))
    cosigned = add_signature_lines(note, [witness.cosign(note_signatures(note)[0], 1_764_000_000)])
    log.checkpoints[-1] = (len(log.records), cosigned)
    return log, cosigned


@asynccontextmanager
async def stub_api(log: LogBuilder, note: str) -> AsyncIterator[FastAPI]:
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
    yield app


async def read_models(log: LogBuilder, note: str, database_url: str, schema: str) -> None:
    """Fill the projections' read models in ``schema`` from ``log`` and its checkpoint (as the consumer would)."""
    config = ProjectionConfig("unused:9092", database_url, db_schema=schema)
    s = f'"{schema}"'
    messages = [Message(config.log_topic, 0, offset, raw) for offset, raw in enumerate(log.records)]
    messages.append(Message(config.checkpoints_topic, 0, 0, note.encode()))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE SCHEMA {s}")
        await create_tracking(conn, s)
        for projection in PROJECTIONS.values():
            await ensure_projection(conn, s, projection)
        reads = read_messages(messages, config.log_topic, config.checkpoints_topic)
        await apply_reads(conn, config, list(PROJECTIONS.values()), reads)
    finally:
        await conn.close()


def tiles(log: LogBuilder, directory: Path) -> Path:
    """Publish ``log`` (with its checkpoints) as tlog-tiles under ``directory``/tiles."""
    build_tiles(log.write_export(directory / "export"), directory / "tiles")
    return directory / "tiles"


@asynccontextmanager
async def real_api(log: LogBuilder, note: str, database_url: str, tiles_dir: Path) -> AsyncIterator[Any]:
    """The API process's app (``build_app`` with the lookup page) on read models of ``log`` in a new schema."""
    from certlife.services.api.app import ApiOptions, build_app

    schema = f"t_{uuid.uuid4().hex[:12]}"
    await read_models(log, note, database_url, schema)
    trust = json.dumps(log.trust().to_json()).encode()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        options = ApiOptions(rate=0)  # the tests' many requests from one address are not what is tested here
        yield build_app(pool, f'"{schema}"', tiles_dir, trust, options, install_extra=[install])
    finally:
        await pool.close()
        await drop_schema(database_url, schema)


@contextmanager
def serve(make: Callable[[], AbstractAsyncContextManager[Any]]) -> Iterator[str]:
    """Serve the app ``make()`` yields on 127.0.0.1 (any free port), in a thread with its own event loop."""
    sock = bind("127.0.0.1", 0)
    ready = threading.Event()
    servers: list[uvicorn.Server] = []
    failures: list[BaseException] = []

    async def run() -> None:
        async with make() as built:
            server = uvicorn.Server(uvicorn.Config(built, log_level="warning", lifespan="on"))
            servers.append(server)
            ready.set()
            await server.serve(sockets=[sock])

    def main() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # reported to the test below
            failures.append(exc)
            ready.set()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (servers and servers[0].started):
        if failures or not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start: {failures[:1]}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        servers[0].should_exit = True
        thread.join(10)
        sock.close()


async def drop_schema(database_url: str, schema: str) -> None:
    """Drop a schema :func:`read_models` made."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
