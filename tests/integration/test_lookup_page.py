"""The public lookup page in real headless Chromium (Debian's package, Playwright) and without JavaScript.

Search, open a certificate, press Verify: the browser checks the signed record,
its inclusion proof and the signed checkpoint with WebCrypto and says
"verified"; the same page fed a tampered record, proof hash or checkpoint says
"failed: <reason>". Every request the browser makes must go to 127.0.0.1 (any
other is blocked and fails the test). Screenshots go to the test's tmp_path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.browser import CHROMIUM, ensure_chromium
from tests.integration.lookup_harness import (
    real_api,
    serve,
    signed_log,
    stub_api,
    tiles,
)


@pytest.fixture(scope="module", params=["api", "stub"])
def origin(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The page served on 127.0.0.1 over a real signed log: by the API's own app on PostgreSQL read
    models and tiles ("api"), or by a stub of the ``/v1`` routes ("stub", the page alone)."""
    log, note = signed_log()
    if request.param == "stub":
        with serve(lambda: stub_api(log, note)) as url:
            yield url
        return
    tiles_dir = tiles(log, tmp_path_factory.mktemp("published"))
    with serve(lambda: real_api(log, note, database_url, tiles_dir)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium (installed with apt-get when missing: failing that is a test failure)."""
    why = ensure_chromium()
    if why:
        pytest.fail(why, pytrace=False)
    with sync_playwright() as pw:
        # No name resolves but 127.0.0.1 (a second fence behind the per-page route check).
        fence = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[fence])
        yield launched
        launched.close()


@contextmanager
def local_page(browser: Browser, **options: Any) -> Iterator[Page]:
    """A fresh browser page that may reach 127.0.0.1 only; asserts afterwards that it tried nothing else."""
    context = browser.new_context(**options)
    outside: list[str] = []

    def local_only(route: Route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    yield context.new_page()
    context.close()
    assert outside == [], f"the page tried to reach beyond 127.0.0.1: {outside}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A JavaScript-enabled page limited to 127.0.0.1 (:func:`local_page`)."""
    with local_page(browser) as opened:
        yield opened


def tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Press Tab until the element whose accessible text is ``name`` has the keyboard focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement; return (e.labels && e.labels[0] ? "
            "e.labels[0].textContent : e.textContent || '').trim(); }"
        )
        if focused == name:
            return
    raise AssertionError(f"{name!r} cannot be reached with the Tab key")


def test_search_open_and_verify(page: Page, origin: str, tmp_path: Path) -> None:
    page.goto(origin + "/")
    tab_to(page, "Search in")  # everything from the keyboard, through the labels
    page.get_by_label("Search in").select_option("holder")
    tab_to(page, "Search for")
    page.keyboard.type("müller")
    page.keyboard.press("Enter")
    expect(page.get_by_role("table")).to_contain_text("CB-2025-0002")
    expect(page.get_by_role("table")).not_to_contain_text("CB-2025-0001")
    page.screenshot(path=tmp_path / "search.png", full_page=True)

    page.get_by_role("link", name="CB-2025-0002").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("suspended")
    expect(page.locator("ol.timeline li")).to_have_count(2)
    expect(page.locator("dl.facts")).to_contain_text("Ladesäule „Ω-22“")
    tab_to(page, "Verify")
    page.keyboard.press("Enter")
    result = page.get_by_role("status")
    expect(result).to_have_attribute("aria-live", "polite")
    expect(result).to_have_text("verified", timeout=10_000)
    checks = page.locator("#verify-checks li")
    expect(checks).to_have_count(6)
    expect(page.locator("#verify-checks li[data-result=passed]")).to_have_count(6)
    expect(checks.nth(4)).to_contain_text("also signed by witness.test/w1")
    page.screenshot(path=tmp_path / "verified.png", full_page=True)
    assert (tmp_path / "verified.png").stat().st_size > 0


def test_awkward_text_is_shown_escaped_and_verifies(page: Page, origin: str) -> None:
    page.on("dialog", lambda dialog: pytest.fail(f"markup ran as script: {dialog.message}"))
    page.goto(origin + "/certificates/ZZ-1")
    expect(page.locator("dl.facts")).to_contain_text('<script>alert(1)</script> & Co "Ltd"')
    expect(page.locator("dl.facts")).to_contain_text("😀-emoji")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status")).to_have_text("verified", timeout=10_000)


def test_an_answer_without_proof_fails_with_the_problem(page: Page, origin: str) -> None:
    problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503}
    problem["detail"] = "record 0 is not in the published checkpoint yet (size 0); retry after 5 s"
    page.route(
        lambda url: "proof=1" in url,
        lambda route: route.fulfill(
            status=503, content_type="application/problem+json", body=json.dumps(problem)
        ),
    )
    page.goto(origin + "/certificates/CB-2025-0001")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status")).to_contain_text("failed: Fetch the proof and the trust file: ")
    expect(page.get_by_role("status")).to_contain_text(
        "HTTP 503: record 0 is not in the published checkpoint"
    )


def _tamper_record(proof: dict[str, Any]) -> None:
    proof["record"] = proof["record"].replace("DC EV charger", "DC EV chargex", 1)


def _tamper_inclusion(proof: dict[str, Any]) -> None:
    first = proof["inclusion"][0]
    proof["inclusion"][0] = ("B" if first[0] == "A" else "A") + first[1:]


def _tamper_checkpoint(proof: dict[str, Any]) -> None:
    body, _, signatures = proof["checkpoint"].partition("\n\n")
    origin, size, root = body.split("\n")[:3]
    swapped = ("B" if root[0] == "A" else "A") + root[1:]
    proof["checkpoint"] = f"{origin}\n{size}\n{swapped}\n\n{signatures}"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_tamper_record, "Record signature (Ed25519, trusted record key): the signature does not verify"),
        (_tamper_inclusion, "the checkpoint's root is not the root the proof leads to"),
        (_tamper_checkpoint, "Checkpoint signature (trusted note key): the signature by"),
    ],
    ids=["record", "proof-hash", "checkpoint"],
)
def test_tampered_answer_fails(
    page: Page, origin: str, tmp_path: Path, tamper: Callable[[dict[str, Any]], None], reason: str
) -> None:
    def altered(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        tamper(body["proof"])
        route.fulfill(response=answer, body=json.dumps(body, ensure_ascii=False))

    page.route(lambda url: "proof=1" in url, altered)
    page.goto(origin + "/certificates/CB-2025-0001")
    page.get_by_role("button", name="Verify").click()
    result = page.get_by_role("status")
    expect(result).to_contain_text("failed: ", timeout=10_000)
    expect(result).to_contain_text(reason)
    expect(page.locator("#verify-checks li[data-result=failed]")).to_have_count(1)
    page.screenshot(path=tmp_path / f"failed-{tamper.__name__}.png", full_page=True)


def test_lookup_without_javascript(browser: Browser, origin: str, tmp_path: Path) -> None:
    with local_page(browser, java_script_enabled=False) as page:
        page.goto(origin + "/")
        page.get_by_label("Search for").fill("CB-2025")
        page.get_by_label("Search for").press("Enter")
        expect(page.locator("table.results tbody tr")).to_have_count(3)
        page.get_by_role("link", name="CB-2025-0003").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("CB-2025-0003")
        expect(page.get_by_role("button", name="Verify")).to_be_hidden()  # verification needs the script
        page.screenshot(path=tmp_path / "no-javascript.png", full_page=True)


def test_pages_over_plain_http(origin: str) -> None:
    with httpx.Client(base_url=origin) as http:
        home = http.get("/")
        assert home.status_code == 200 and 'action="/search"' in home.text
        results = http.get("/search", params={"q": "CB-2025-000", "field": "number"})
        assert results.status_code == 200
        assert results.text.count('href="/certificates/CB-2025-000') == 3
        assert "XX-9" not in results.text
        cert = http.get("/certificates/CB-2025-0002")
        assert cert.status_code == 200
        for text in ("Müller Prüftechnik GmbH", "IEC 61851-1:2017", "Stuttgart", "DC-60", "audit overdue"):
            assert text in cert.text
        assert "default-src 'self'" in cert.headers["content-security-policy"]
        missing = http.get("/certificates/NOPE-1")
        assert missing.status_code == 404 and "no certificate" in missing.text and "NOPE-1" in missing.text
        bad = http.get("/search", params={"q": "x", "field": "colour"})
        assert bad.status_code == 400 and "unknown search field" in bad.text
        script = http.get("/static/verify.js")
        assert script.status_code == 200 and "crypto.subtle.verify" in script.text


def test_markup_is_escaped(origin: str) -> None:
    with httpx.Client(base_url=origin) as http:
        answer = http.get("/search", params={"q": "<script>alert(1)</script>", "field": "holder"})
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
