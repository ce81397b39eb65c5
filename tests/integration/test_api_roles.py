"""``certctl serve api``'s composition root as the read-only role ``certlife_reader`` on a migrated schema.

``bootstrap.open_api`` opens its pool with the reader's URL; every route
answers from the read models it may SELECT, and the pool cannot write.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from certlife.services import bootstrap
from certlife.services.api.app import ApiStartError
from certlife.services.infra.settings import Settings
from certlife.services.infra.stack import pgroles
from tests.integration.api_harness import load, publish
from tests.integration.test_api import scenario
from tests.integration.test_db_privileges import Deployment, deployment, stack  # noqa: F401

pytestmark = pytest.mark.integration


async def test_open_api_as_the_reader_answers_every_route_and_cannot_write(
    deployment: Deployment,  # noqa: F811
    tmp_path: Path,
) -> None:
    log = scenario()
    conn = await deployment.connect(pgroles.PROJECTIONS)  # the read models' owner writes them
    try:
        await load(conn, deployment.schema, log, 54)
    finally:
        await conn.close()
    publish(tmp_path / "tiles", log, 54)
    (tmp_path / "trust.json").write_bytes(log.trust().to_bytes())
    settings = Settings.from_env(
        {
            "CERTLIFE_DATABASE_URL": deployment.url(pgroles.READER),
            "CERTLIFE_DB_SCHEMA": deployment.schema,
            "CERTLIFE_KAFKA_SECURITY": "plaintext",
            "CERTLIFE_TILES_DIR": str(tmp_path / "tiles"),
            "CERTLIFE_TRUST_FILE": str(tmp_path / "trust.json"),
        }
    )
    async with bootstrap.open_api(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            for path in (
                "/v1/certificates/A-1?proof=1",
                "/v1/certificates/A-1?at=2025-03-01T00:51:30Z",
                "/v1/certificates/A-1/history",
                "/v1/certificates?holder=acme",
                "/v1/expiring?days=2000",
                "/v1/counts",
                "/v1/trust.json",
            ):
                r = await client.get(path)
                assert r.status_code == 200, (path, r.text)
        pool = app.state.api.pool
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == pgroles.READER
            with pytest.raises(Exception, match="permission denied"):
                await conn.execute(f"DELETE FROM {deployment.s}.certificates")


async def test_a_missing_trust_file_is_one_line(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"CERTLIFE_KAFKA_SECURITY": "plaintext", "CERTLIFE_TRUST_FILE": str(tmp_path / "absent.json")}
    )
    with pytest.raises(ApiStartError, match="certctl keys trust"):
        async with bootstrap.open_api(settings):
            pass
