"""``certctl serve tiles`` over real HTTP on 127.0.0.1: content types, caching, gzip, HEAD, 404, no traversal."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from certlife.contracts.merkle import leaf_hash, verify_inclusion
from certlife.contracts.notes import Checkpoint, note_signatures
from certlife.contracts.tiles import TiledHashes, decode_entries, entries_path, tile_path, tile_width
from certlife.services.demo.fixtures import generate
from certlife.services.tiles.build import build_tiles

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    export = tmp_path_factory.mktemp("export")
    generate(export, 300, seed=8, checkpoint_every=1000, workers=0)
    out = tmp_path_factory.mktemp("tiles")
    build_tiles(export, out)
    (out / ".checkpoint.partial").write_text("a temporary file")
    (out.parent / "secret.txt").write_text("outside")
    return out


@pytest.fixture(scope="module")
def server(tiles: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    child = subprocess.Popen(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "tiles", str(tiles), "--port", "0"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stderr is not None
    try:
        for line in child.stderr:
            if match := re.search(r"serving .* on (http://127\.0\.0\.1:\d+)/", line):
                break
        else:
            pytest.fail("the tiles server did not start")
        yield match[1], child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)


@pytest.fixture
def base(server: tuple[str, subprocess.Popen[str]]) -> str:
    return server[0]


def test_checkpoint_is_utf8_text_that_is_not_cached(base: str, tiles: Path) -> None:
    response = httpx.get(f"{base}/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == (tiles / "checkpoint").read_bytes()


def test_full_tiles_are_immutable_and_partial_ones_short_lived(base: str, tiles: Path) -> None:
    full = httpx.get(f"{base}/{tile_path(0, 0)}")
    assert full.status_code == 200
    assert full.headers["content-type"] == "application/octet-stream"
    assert full.headers["cache-control"] == IMMUTABLE
    assert full.content == (tiles / tile_path(0, 0)).read_bytes() and len(full.content) == 8192
    size = _checkpoint(base).size
    partial = httpx.get(f"{base}/{tile_path(0, size // 256, size % 256)}")
    assert partial.status_code == 200
    assert partial.headers["cache-control"] == "public, max-age=60"
    assert len(partial.content) == 32 * (size % 256)


def test_entry_bundles_are_gzipped_for_clients_that_accept_it(base: str, tiles: Path) -> None:
    raw = (tiles / entries_path(0)).read_bytes()
    zipped = httpx.get(f"{base}/{entries_path(0)}", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["cache-control"] == IMMUTABLE
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == raw  # httpx decodes
    plain = httpx.get(f"{base}/{entries_path(0)}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == raw
    refused = httpx.get(f"{base}/{entries_path(0)}", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_head_gives_the_headers_of_get_without_a_body(base: str) -> None:
    for path, encoding in (
        (tile_path(0, 0), "identity"),
        (entries_path(0), "gzip"),
        ("checkpoint", "identity"),
    ):
        got = httpx.get(f"{base}/{path}", headers={"Accept-Encoding": encoding})
        head = httpx.head(f"{base}/{path}", headers={"Accept-Encoding": encoding})
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"]
        assert head.headers["cache-control"] == got.headers["cache-control"]
        assert head.headers.get("content-encoding") == got.headers.get("content-encoding")


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/999",  # a tile that does not exist
        "/tile/0/x000/000",  # not canonical
        "/tile/0/000.p/255",
        "/",
        "/tile",
        "/tile/",
        "/tile/0",
        "/tile/entries/",
        "/.checkpoint.partial",
        "/../secret.txt",
        "/tile/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/tile/0/..%2f..%2f..%2fsecret.txt",
        "/tile/0/000%00",
        "/checkpoint/",
        "//etc/passwd",
    ],
)
def test_anything_else_is_404_without_listing_or_traversal(base: str, path: str) -> None:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)  # sent as is: no client-side normalisation
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 404, path
    assert body == b"not found\n"


def test_other_methods_are_not_allowed(base: str) -> None:
    assert httpx.post(f"{base}/checkpoint", content=b"x").status_code == 405
    assert httpx.put(f"{base}/{tile_path(0, 0)}", content=b"x").status_code == 405


def _checkpoint(base: str) -> Checkpoint:
    return Checkpoint.parse(note_signatures(httpx.get(f"{base}/checkpoint").text)[0])


def test_a_client_verifies_every_record_over_http(base: str) -> None:
    checkpoint = _checkpoint(base)
    with httpx.Client(base_url=base) as client:

        def read(level: int, index: int, width: int) -> bytes:
            response = client.get(f"/{tile_path(level, index, width)}")
            response.raise_for_status()
            return response.content

        hashes = TiledHashes(read, checkpoint.size, checkpoint.root_hash)
        count = 0
        for n in range((checkpoint.size + 255) // 256):
            width = tile_width(0, n, checkpoint.size)
            bundle = decode_entries(client.get(f"/{entries_path(n, width)}").content, width)
            hashes.verify_entries(n, bundle)
            for offset, record in enumerate(bundle):
                index = n * 256 + offset
                proof = hashes.inclusion_proof(index)
                verify_inclusion(leaf_hash(record), index, checkpoint.size, proof, checkpoint.root_hash)
                count += 1
    assert count == checkpoint.size


def test_sigterm_stops_the_server_cleanly(tiles: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "tiles", str(tiles), "--port", "0"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    try:
        assert "serving" in next(line for line in child.stderr if "tiles:" in line)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=15) == 0
    finally:
        if child.poll() is None:
            child.kill()


@pytest.mark.parametrize(
    ("args", "message"), [([], "needs the tiles directory"), (["/nonexistent"], "not found")]
)
def test_a_missing_directory_is_one_line(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "tiles", *args, "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.startswith("certctl: error:") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
