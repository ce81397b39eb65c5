"""Property test: requests generated from the OpenAPI document, answered as the document says (schemathesis).

The API runs as a real uvicorn server (its own thread and event loop) over
real read models and tiles; schemathesis checks every answer's status code,
content type, headers and body against contracts/openapi.json, and that no
request gets a 5xx. Bounded: a few examples per operation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from certlife.services.api.app import ApiOptions, build_app
from certlife.services.infra.http_server import bind
from tests.integration.api_harness import load, publish
from tests.integration.test_api import scenario

pytestmark = pytest.mark.integration


def _serve(
    database_url: str,
    schema: str,
    tiles: Path,
    trust: bytes,
    port: list[int],
    started: threading.Event,
    stop: threading.Event,
) -> None:
    import uvicorn

    async def main() -> None:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
        app = build_app(pool, f'"{schema}"', tiles, trust, ApiOptions(rate=0))
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
        with bind("127.0.0.1", 0) as sock:
            port.append(sock.getsockname()[1])
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:
                await asyncio.sleep(0.01)
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            server.should_exit = True
            await task
        await pool.close()

    asyncio.run(main())


@pytest.fixture
def api_schema(database_url: str, pg_schema: str, tmp_path: Path) -> Iterator[schemathesis.BaseSchema]:
    log = scenario()

    async def prepare() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await load(conn, pg_schema, log, 54)
        finally:
            await conn.close()

    asyncio.run(prepare())
    publish(tmp_path / "tiles", log, 54)
    port: list[int] = []
    started, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=_serve,
        args=(database_url, pg_schema, tmp_path / "tiles", log.trust().to_bytes(), port, started, stop),
        daemon=True,
    )
    thread.start()
    assert started.wait(30), "the API server did not start"
    try:
        yield schemathesis.openapi.from_url(f"http://127.0.0.1:{port[0]}/openapi.json")
    finally:
        stop.set()
        thread.join(10)


def test_answers_match_the_openapi_document(api_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 8  # six /v1 routes, /statuslists/{purpose}, /issuer
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate()

        check()
