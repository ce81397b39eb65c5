"""The status API against real PostgreSQL read models and a real tiles directory: every route."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import leaf_hash, verify_inclusion
from certlife.contracts.notes import open_checkpoint_note
from certlife.contracts.trust import KeyRing
from certlife.contracts.verification.failures import VerificationError
from certlife.contracts.verification.tlogproof import verify_tlog_proof
from certlife.services.api.app import ApiOptions
from tests.integration.api_harness import Api, running
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def scenario() -> LogBuilder:
    """A-1 issued, suspended, reinstated, revoked around 30 C- certificates; B-1 issued after the checkpoint."""
    b = LogBuilder()
    b.add("A-1", "issued", "valid")  # index 0, effective 2025-03-01T00:00:00Z
    b.issue_many(30)  # 1..50
    b.add("A-1", "suspended", "suspended", reason="factory audit overdue")  # 51 (00:51)
    b.add("A-1", "reinstated", "valid")  # 52
    b.add("A-1", "revoked", "revoked", reason="certificate misuse")  # 53
    b.add("B-1", "issued", "valid")  # 54: past the published checkpoint
    return b


@pytest.fixture
async def api(database_url: str, pg_schema: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running(database_url, pg_schema, tmp_path / "tiles", scenario(), 54, ApiOptions(rate=0)) as a:
        yield a


def check_proof(api: Api, body: dict) -> None:
    """The answer's proof verifies with certverify's code, piece by piece and as a tlog-proof."""
    proof = body["proof"]
    record = proof["record"].encode()
    checkpoint = open_checkpoint_note(proof["checkpoint"], KeyRing(api.trust).note_verifiers())
    assert checkpoint.size == proof["treeSize"] == body["checkpoint"]["size"]
    hashes = [base64.b64decode(h) for h in proof["inclusion"]]
    verify_inclusion(leaf_hash(record), proof["leafIndex"], checkpoint.size, hashes, checkpoint.root_hash)
    report = verify_tlog_proof(proof["tlogProof"].encode(), api.trust)
    assert report.details["index"] == body["logIndex"]


async def test_status_with_a_proof_that_verifies_and_fails_when_tampered(api: Api) -> None:
    r = await api.client.get("/v1/certificates/A-1", params={"proof": "1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["logIndex"], body["event"], body["anchored"]) == (
        "revoked",
        53,
        "revoked",
        True,
    )
    assert body["certificate"]["holder"] == "Acme Charging GmbH"
    assert body["checkpoint"]["size"] == 54 and body["checkpoint"]["root"]
    check_proof(api, body)
    assert body["proof"]["record"].encode() == api.log.records[53]
    assert json.loads(body["proof"]["record"])["certificate"]["number"] == "A-1"
    tampered = dict(body, proof=dict(body["proof"]))
    tampered["proof"]["record"] = body["proof"]["record"].replace('"revoked"', '"valid"', 1)
    tampered["proof"]["tlogProof"] = body["proof"]["tlogProof"].replace(
        base64.b64encode(body["proof"]["record"].encode()).decode(),
        base64.b64encode(tampered["proof"]["record"].encode()).decode(),
    )
    with pytest.raises((ContractError, VerificationError)):
        check_proof(api, tampered)
    with pytest.raises((ContractError, VerificationError)):
        verify_tlog_proof(tampered["proof"]["tlogProof"].encode(), api.trust)
    plain = (await api.client.get("/v1/certificates/A-1")).json()
    assert "proof" not in plain and plain["status"] == "revoked"


async def test_a_record_past_the_published_checkpoint_has_no_proof_yet(api: Api) -> None:
    r = await api.client.get("/v1/certificates/B-1")
    assert r.status_code == 200 and r.json()["status"] == "valid" and r.json()["anchored"] is False
    r = await api.client.get("/v1/certificates/B-1?proof=1")
    assert r.status_code == 503 and r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "not-checkpointed" and int(r.headers["retry-after"]) >= 1


async def test_status_at_an_instant_from_the_history(api: Api) -> None:
    async def at(instant: str) -> tuple[int, dict]:
        r = await api.client.get("/v1/certificates/A-1", params={"at": instant, "proof": "true"})
        return r.status_code, r.json()

    code, body = await at("2025-02-28T00:00:00Z")
    assert code == 404 and body["code"] == "not-yet-issued" and "2025-03-01T00:00:00Z" in body["detail"]
    code, body = await at("2025-03-01T00:10:00Z")
    assert (code, body["status"], body["logIndex"]) == (200, "valid", 0)
    check_proof(api, body)
    code, body = await at("2025-03-01T00:51:30Z")
    assert (code, body["status"], body["logIndex"], body["reason"]) == (
        200,
        "suspended",
        51,
        "factory audit overdue",
    )
    check_proof(api, body)
    code, body = await at("2025-03-01T01:51:30+01:00")  # the same instant with an offset
    assert body["logIndex"] == 51
    code, body = await at("2026-06-01T00:00:00Z")
    assert (code, body["status"], body["logIndex"]) == (200, "revoked", 53)
    code, body = await at("2030-01-01T00:00:00Z")  # revoked stays revoked after validity ends
    assert body["status"] == "revoked"
    code, body = await at("yesterday")
    assert code == 400 and body["code"] == "malformed-instant"


async def test_history_counts_expiring_and_trust(api: Api) -> None:
    r = await api.client.get("/v1/certificates/A-1/history")
    events = r.json()["events"]
    assert [(e["logIndex"], e["event"]) for e in events] == [
        (0, "issued"),
        (51, "suspended"),
        (52, "reinstated"),
        (53, "revoked"),
    ]
    counts = (await api.client.get("/v1/counts")).json()
    assert counts["total"] == 32 and counts["byStatus"] == {"revoked": 1, "valid": 31}
    assert counts["byScheme"] == {"CB": 32}
    soon = (await api.client.get("/v1/expiring", params={"days": 3660})).json()
    assert soon["days"] == 3660 and len(soon["items"]) == 31 and soon["truncated"] is False
    assert all(i["status"] == "valid" for i in soon["items"])
    none = (await api.client.get("/v1/expiring", params={"days": 1})).json()
    assert none["items"] == []  # validity ends 2028-01-01
    trust = await api.client.get("/v1/trust.json")
    assert trust.content == api.trust.to_bytes()
    for path in ("/v1/certificates/NOPE", "/v1/certificates/NOPE/history"):
        r = await api.client.get(path)
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "unknown-certificate" and r.json()["status"] == 404


async def test_search_pages_are_stable_without_duplicates_or_gaps(api: Api, database_url: str) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"number_prefix": "C-", "limit": "7"} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get("/v1/certificates", params=params)).json()
        seen += [i["number"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == sorted(seen) == [f"C-{i:04d}" for i in range(30)]
    # Filters: substring, exact array member, status.
    holder = (await api.client.get("/v1/certificates", params={"holder": "acme", "limit": 200})).json()
    assert len(holder["items"]) == 32 and holder["next"] is None
    for params, expected in (
        ({"model": "DC-60", "status": "revoked"}, ["A-1"]),
        ({"factory": "Stuttgart", "number_prefix": "B"}, ["B-1"]),
        ({"standard": "IEC 61851-1:2017", "scheme": "XX"}, []),
        ({"manufacturer": "ACME CHARGING", "product": "dc ev", "number_prefix": "A"}, ["A-1"]),
    ):
        got = (await api.client.get("/v1/certificates", params=params)).json()
        assert [i["number"] for i in got["items"]] == expected, params


async def test_etag_and_cache_control(api: Api) -> None:
    r = await api.client.get("/v1/certificates/A-1")
    etag = r.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert r.headers["cache-control"].startswith("public, max-age=")
    again = await api.client.get("/v1/certificates/A-1", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = await api.client.get("/v1/certificates/A-1?proof=1", headers={"if-none-match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    stale = await api.client.get("/v1/certificates/A-1", headers={"if-none-match": '"something-else"'})
    assert stale.status_code == 200


async def test_head_answers_like_get_without_a_body(api: Api) -> None:
    for path in ("/v1/certificates/A-1", "/v1/trust.json", "/", "/v1/certificates/NOPE-404"):
        got = await api.client.get(path)
        head = await api.client.head(path)
        assert head.status_code == got.status_code != 405, path
        assert head.content == b""
        for name in ("etag", "content-type", "cache-control", "content-length"):
            assert head.headers.get(name) == got.headers.get(name), (path, name)
    etag = (await api.client.get("/v1/certificates/A-1")).headers["etag"]
    again = await api.client.head("/v1/certificates/A-1", headers={"if-none-match": etag})
    assert again.status_code == 304


async def test_problem_details_for_bad_input(api: Api) -> None:
    cases = {
        "/v1/certificates?limit=1000": (400, "page-too-large"),
        "/v1/certificates?limit=0": (400, "invalid-parameter"),
        "/v1/certificates?colour=red": (400, "unknown-parameter"),
        "/v1/certificates/A-1?proof=maybe": (400, "invalid-parameter"),
        "/v1/expiring?days=-1": (400, "invalid-parameter"),
        "/v1/nothing-here": (404, "no-such-route"),
    }
    for path, (status, code) in cases.items():
        r = await api.client.get(path)
        assert r.status_code == status, path
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["code"] == code and body["type"] == f"urn:certlife:problem:{code}", path
        assert body["status"] == status and body["detail"] and "Traceback" not in r.text
    # PostgreSQL text never holds NUL: such a number is unknown, such a filter matches nothing.
    assert (await api.client.get("/v1/certificates/A%00-1")).status_code == 404
    assert (await api.client.get("/v1/certificates?holder=ac%00me")).json()["items"] == []
    assert (await api.client.get("/v1/certificates?cursor=A%00")).json()["code"] == "invalid-parameter"
    r = await api.client.post("/v1/counts")
    assert r.status_code == 405 and r.json()["code"] == "method-not-allowed"
    r = await api.client.request("GET", "/v1/counts", content=b"x" * 10_000)
    assert r.status_code == 413 and r.json()["code"] == "body-too-large"


async def test_rate_limit_answers_429_per_client(database_url: str, pg_schema: str, tmp_path: Path) -> None:
    options = ApiOptions(rate=1, burst=3)
    async with running(database_url, pg_schema, tmp_path / "tiles", scenario(), 54, options) as api:
        codes = [(await api.client.get("/v1/counts")).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = await api.client.get("/v1/counts")
        assert r.headers["content-type"] == PROBLEM and r.json()["code"] == "rate-limited"
        assert int(r.headers["retry-after"]) >= 1
        # Another client behind the trusted (loopback) proxy has its own bucket.
        import httpx

        transport = httpx.ASGITransport(app=api.app, client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as proxy:
            r = await proxy.get("/v1/counts", headers={"x-forwarded-for": "198.51.100.9"})
            assert r.status_code == 200


async def test_a_tampered_entry_bundle_is_a_500_never_a_wrong_proof(
    api: Api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = tmp_path / "tiles" / "tile" / "entries" / "000.p" / "54"
    bundle.write_bytes(bundle.read_bytes().replace(b'"valid"', b'"VALID"', 1))
    r = await api.client.get("/v1/certificates/A-1", params={"at": "2025-03-01T00:10:00Z", "proof": "1"})
    assert r.status_code == 500 and r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "internal" and "Traceback" not in r.text
    assert [rec.message for rec in caplog.records if rec.levelname == "ERROR"] == [
        "GET /v1/certificates/A-1: 500: TileError: tile/entries/000.p/54: record 0 does not match its hash tile"
    ]
