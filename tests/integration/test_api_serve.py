"""``certctl serve api`` as a process: announces its address, answers, stops on SIGTERM; errors are one line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from certlife.services.api.openapi import OPENAPI_PATH
from tests.integration.api_harness import load, publish
from tests.integration.test_api import scenario
from tests.unit.test_serve_cli import ROOT, serve

pytestmark = pytest.mark.integration


def test_serves_the_api_and_stops_on_sigterm(database_url: str, pg_schema: str, tmp_path: Path) -> None:
    log = scenario()

    async def prepare() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await load(conn, pg_schema, log, 54)
        finally:
            await conn.close()

    asyncio.run(prepare())
    publish(tmp_path / "tiles", log, 54)
    (tmp_path / "trust.json").write_bytes(log.trust().to_bytes())
    env = {
        **os.environ,
        "CERTLIFE_DATABASE_URL": database_url,
        "CERTLIFE_DB_SCHEMA": pg_schema,
        "CERTLIFE_TILES_DIR": str(tmp_path / "tiles"),
        "CERTLIFE_TRUST_FILE": str(tmp_path / "trust.json"),
    }
    argv = [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "api", "--port", "0"]
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:
            found = re.search(r"api: serving on (http://127\.0\.0\.1:\d+)/", line)
            if found:
                url = found[1]
                break
        assert url is not None, "no 'api: serving on' line"
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/v1/counts").json()["total"] == 32
            assert http.get("/v1/certificates/A-1").json()["status"] == "revoked"
            # With the lookup page and the metrics installed, the document is still the checked-in one.
            assert http.get("/openapi.json").json() == json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
            assert http.get("/").status_code == 200
            assert http.get("/healthz").status_code == 200
            assert http.get("/readyz").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_missing_trust_file_and_busy_port_are_one_line(database_url: str, tmp_path: Path) -> None:
    result = serve(
        "api", CERTLIFE_DATABASE_URL=database_url, CERTLIFE_TRUST_FILE=str(tmp_path / "absent.json")
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "certctl keys trust" in result.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = serve("api", CERTLIFE_DATABASE_URL=database_url, CERTLIFE_API_PORT=str(port))
    assert result.returncode == 1
    assert (
        len(result.stderr.strip().splitlines()) == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    )
