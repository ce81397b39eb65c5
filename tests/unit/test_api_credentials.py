"""``GET /statuslists/{purpose}`` and ``GET /issuer``: exact bytes, ETag and 304, problems, keys listed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from certlife.contracts.credentials.multikey import public_from_multikey
from certlife.contracts.trust import TrustedKey
from certlife.services.api.app import ApiOptions, build_app
from tests.unit.cv_credential_helpers import credential_signer, status_lists, write_lists
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _client(tiles: Path, trust: bytes) -> httpx.AsyncClient:
    app = build_app(None, '"public"', tiles, trust, ApiOptions(rate=0))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test")


async def test_status_lists_are_served_as_published(tmp_path: Path) -> None:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.announce_credential_key("c1")
    lists = status_lists(b, credential_signer("c1"))
    write_lists(tmp_path, lists)
    etags: dict[str, str] = {}
    async with _client(tmp_path, b.trust().to_bytes()) as client:
        for purpose, data in lists.items():
            r = await client.get(f"/statuslists/{purpose}")
            assert r.status_code == 200 and r.content == data
            assert r.headers["content-type"] == "application/vc"
            assert r.headers["access-control-allow-origin"] == "*"
            committed = (b.records[-2] + b.records[-1]).decode()
            assert hashlib.sha256(r.content).hexdigest() in committed
            etag = etags[purpose] = r.headers["etag"]
            again = await client.get(f"/statuslists/{purpose}", headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b""
        (tmp_path / "statuslists" / "revocation").write_bytes(
            lists["suspension"]
        )  # the publisher replaced it
        changed = await client.get("/statuslists/revocation", headers={"If-None-Match": etags["revocation"]})
        assert changed.status_code == 200 and changed.headers["etag"] == etags["suspension"]
        r = await client.get("/statuslists/expiry")
        assert r.status_code == 404 and r.json()["code"] == "unknown-status-list"
        assert (await client.get("/statuslists/revocation?x=1")).status_code == 400
    async with _client(tmp_path / "empty", b.trust().to_bytes()) as client:
        r = await client.get("/statuslists/suspension")
        assert r.status_code == 404 and r.json()["code"] == "no-status-list"


async def test_issuer_lists_the_credential_keys_not_compromised() -> None:
    b = LogBuilder()
    c1, c2 = credential_signer("c1"), credential_signer("c2")
    keys = (TrustedKey(c1.key_id, c1.public_raw, 3, 7, 5), TrustedKey(c2.key_id, c2.public_raw, 7))
    trust = b.trust()
    data = replace(trust, credential_keys=keys).to_bytes()
    async with _client(Path("/nonexistent"), data) as client:
        r = await client.get("/issuer")
        assert r.status_code == 200 and r.headers["etag"]
        doc = json.loads(r.content)
        issuer = f"https://{b.origin}/issuer"
        assert doc["id"] == issuer and doc["assertionMethod"] == [f"{issuer}#{c2.key_id}"]
        method = doc["verificationMethod"][0]
        assert (method["controller"], method["type"]) == (issuer, "Multikey")
        assert public_from_multikey(method["publicKeyMultibase"]) == c2.public_raw
        assert (await client.get("/issuer", headers={"If-None-Match": r.headers["etag"]})).status_code == 304
    async with _client(Path("/nonexistent"), trust.to_bytes()) as client:  # no credential key yet
        doc = (await client.get("/issuer")).json()
        assert doc["assertionMethod"] == [] and doc["verificationMethod"] == []
