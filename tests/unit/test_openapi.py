"""The OpenAPI document: the code's == the one served at /openapi.json == contracts/openapi.json."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from certlife.services.api import openapi
from certlife.services.api.app import build_app

pytestmark = pytest.mark.unit


async def test_served_document_equals_the_checked_in_one() -> None:
    app = build_app(None, '"public"', Path("/nonexistent"), b"{}")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        served = (await client.get("/openapi.json")).json()
    checked_in = json.loads(openapi.OPENAPI_PATH.read_text(encoding="utf-8"))
    assert served == checked_in == openapi.build_document()
    assert openapi.OPENAPI_PATH.read_text(encoding="utf-8") == openapi.render(served), (
        "contracts/openapi.json is out of date: run `python -m certlife.services.api.openapi`"
    )


def test_document_is_openapi_3_1_with_the_fixed_routes_and_no_422() -> None:
    doc = openapi.build_document()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {
        "/v1/certificates/{number}",
        "/v1/certificates/{number}/history",
        "/v1/certificates",
        "/v1/expiring",
        "/v1/counts",
        "/v1/trust.json",
        "/statuslists/{purpose}",
        "/issuer",
    }
    for path in doc["paths"].values():
        responses = path["get"]["responses"]
        assert "422" not in responses and {"200", "304", "400", "429"} <= set(responses)
        assert "application/problem+json" in responses["400"]["content"]


def test_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text('{"openapi": "3.1.0"}\n', encoding="utf-8")
    assert openapi.main(["--check", "--path", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert openapi.main(["--path", str(stale)]) == 0
    assert openapi.main(["--check", "--path", str(stale)]) == 0
