"""``certverify log http://...``: a log read from C2SP tlog-tiles verifies like its export; tampering fails."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.cosignature import CosignatureSigner, add_signature_lines
from certlife.contracts.merkle import leaf_hash, root_from_leaf_hashes
from certlife.contracts.notes import note_signatures
from certlife.contracts.tiles import entries_path, tile_path
from certlife.contracts.verification import VerificationError
from certlife.services.demo.fixtures import generate
from certlife.services.partner.certverify import main
from certlife.services.partner.tiles_http import TileFetcher
from certlife.services.partner.tiles_source import TiledLog
from tests.unit.tiles_helpers import serve_tiles, write_tiles

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fixtures export of 403 records (one full bundle, one partial), last checkpoint at its end."""
    out = tmp_path_factory.mktemp("tiles") / "export"
    generate(out, certificates=150, seed=11, checkpoint_every=100, workers=0)
    return out


def _latest(export: Path) -> tuple[int, str]:
    size = max(int(p.name) for p in (export / "checkpoints").iterdir())
    return size, (export / "checkpoints" / str(size)).read_text()


@pytest.fixture
def tiles(export: Path, tmp_path: Path) -> Path:
    """The export's log as tiles, with its latest checkpoint."""
    size, note = _latest(export)
    records = (export / "log.jsonl").read_bytes().split(b"\n")[:size]
    return write_tiles(tmp_path / "tiles", records, note)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def test_log_url_reports_as_the_export(export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trust = str(export / "trust.json")
    with serve_tiles(tiles) as server:
        code, report = _json(capsys, "log", server.url, "--trust", trust, "--jobs", "1")
        bundles = server.bundles()
    assert code == 0 and report["ok"] is True
    assert bundles == ["tile/entries/000", "tile/entries/001.p/147"]
    code, local = _json(capsys, "log", str(export), "--trust", trust, "--jobs", "1")
    assert code == 0
    for key in ("records", "unanchored", "latestCheckpoint", "duplicates", "origin"):
        assert report[key] == local[key], key
    record_checks = ("canonical", "origin", "index", "key", "signature", "chain", "transition")
    assert {k: report["checks"][k] for k in record_checks} == {k: local["checks"][k] for k in record_checks}
    assert report["checks"]["checkpoint-root"] == 1  # tiles serve the latest checkpoint only


def test_human_output_and_retry_after_503(
    export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_tiles(tiles) as server:
        server.fail_next["tile/entries/000"] = 2
        code = main(["log", server.url, "--trust", str(export / "trust.json")])
        out, err = capsys.readouterr()
        assert server.requests["tile/entries/000"] == 3
    assert code == 0 and out.rstrip().endswith("VERIFIED") and err == ""


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_tampered_entry_bundle_fails(export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _flip(tiles / entries_path(0), 300)  # inside record 0 or 1: same length, other bytes
    with serve_tiles(tiles) as server:
        code, report = _json(capsys, "log", server.url, "--trust", str(export / "trust.json"))
    assert code == 1 and report["ok"] is False
    assert report["failure"]["code"] == "entries-mismatch"
    assert report["failure"]["check"] == "checkpoint-root"
    assert (report["failure"]["index"], report["failure"]["checkpoint"]) == (0, 403)
    assert report["failure"]["message"].startswith("tile/entries/000: ")
    assert report["records"] == 0  # nothing from the bundle reached the verifier


@pytest.mark.parametrize(
    ("tile", "index"),
    [(tile_path(0, 0), 0), (tile_path(0, 1, 147), None)],  # a full tile read for bundle 0; the right edge
)
def test_tampered_hash_tile_fails(
    export: Path, tiles: Path, tile: str, index: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    _flip(tiles / tile, 40)
    with serve_tiles(tiles) as server:
        code, report = _json(capsys, "log", server.url, "--trust", str(export / "trust.json"))
    assert code == 1 and report["ok"] is False and report["failure"]["code"] == "tile-mismatch"
    assert report["failure"]["check"] == "checkpoint-root"
    assert (report["failure"]["index"], report["failure"]["checkpoint"]) == (index, 403)
    assert report["records"] == 0


def test_checkpoint_with_cosignatures_passes(
    export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note = (tiles / "checkpoint").read_text()
    witness = CosignatureSigner("witness.example/w1", Ed25519PrivateKey.generate())
    body = note_signatures(note)[0]
    cosigned = add_signature_lines(note, [witness.cosign(body, 1_700_000_000)])
    assert cosigned.count("\n— ") == note.count("\n— ") + 1
    (tiles / "checkpoint").write_text(cosigned)
    with serve_tiles(tiles) as server:
        code, report = _json(capsys, "log", server.url, "--trust", str(export / "trust.json"))
    assert code == 0 and report["ok"] is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_not_found_and_unreachable_are_one_line(
    export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = str(export / "trust.json")
    with serve_tiles(tiles) as server:
        code = main(["log", server.url + "elsewhere/", "--trust", trust])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "404" in err and "Traceback" not in err
    code = main(["log", f"http://127.0.0.1:{_free_port()}/", "--trust", trust])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "connection refused" in err


def test_missing_bundle_is_an_input_error(
    export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiles / entries_path(1, 147)).unlink()
    shutil.rmtree(tiles / "tile" / "entries", ignore_errors=True)
    with serve_tiles(tiles) as server:
        code = main(["log", server.url, "--trust", str(export / "trust.json")])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "tile/entries/000" in err


# A tree with full tiles on two levels (70,000 entries: 273 full bundles, full level-1 tile 0):
# the reader itself, without records, over HTTP.
SIZE = 70_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes], bytes]:
    entries = [hashlib.sha256(str(i).encode()).hexdigest().encode() for i in range(SIZE)]
    directory = write_tiles(tmp_path_factory.mktemp("big") / "tiles", entries, None)
    return directory, entries, root_from_leaf_hashes([leaf_hash(e) for e in entries])


async def _read_all(url: str, root: bytes, start: int = 0) -> list[tuple[int, bytes]]:
    async with TileFetcher(url) as fetcher:
        log = TiledLog(fetcher, SIZE, root)
        await log.start()
        return [item async for item in log.entries(start)]


def test_two_levels_read_from_an_offset(big: tuple[Path, list[bytes], bytes]) -> None:
    directory, entries, root = big
    with serve_tiles(directory) as server:
        got = asyncio.run(_read_all(server.url, root, start=65_600))
        assert got == list(enumerate(entries))[65_600:]
        assert server.bundles()[0] == entries_path(65_600 // 256)  # bundles before the offset not read
        assert len(server.bundles()) == 274 - 65_600 // 256


def test_tampered_full_tile_above_level_zero_fails(
    big: tuple[Path, list[bytes], bytes], tmp_path: Path
) -> None:
    directory, _, root = big
    copy = shutil.copytree(directory, tmp_path / "copy")
    _flip(copy / tile_path(1, 0), 5)
    with serve_tiles(copy) as server, pytest.raises(VerificationError) as caught:
        asyncio.run(_read_all(server.url, root))
    assert caught.value.failure.code == "tile-mismatch"


def test_partial_tiles_gone_are_read_from_full_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.logbuilder import LogBuilder

    log = LogBuilder()
    log.issue_many(320)  # 534 records
    note = log.sign_checkpoint(300)
    write_tiles(tmp_path / "tiles", log.records[:300], note)
    write_tiles(tmp_path / "tiles", log.records, None)  # the log grew: bundle 1 is full now
    for gone in (entries_path(1, 44), tile_path(0, 1, 44)):  # allowed once the full tile exists
        (tmp_path / "tiles" / gone).unlink()
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(log.trust().to_json()))
    with serve_tiles(tmp_path / "tiles") as server:
        code, report = _json(capsys, "log", server.url, "--trust", str(trust))
        assert server.requests[entries_path(1)] == server.requests[tile_path(0, 1)] == 1
    assert code == 0 and report["records"] == 300


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tiles test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_https_untrusted_is_one_line_and_trusted_verifies(
    export: Path,
    tiles: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    trust = str(export / "trust.json")
    with serve_tiles(tiles) as server:
        server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
        url = server.url.replace("http://", "https://")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        code = main(["log", url, "--trust", trust])
        _, err = capsys.readouterr()
        assert code == 2 and err.count("\n") == 1 and "TLS" in err
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        code = main(["log", url, "--trust", trust])
        out, _ = capsys.readouterr()
    assert code == 0 and out.rstrip().endswith("VERIFIED")


def test_reads_from_certctl_serve_tiles_app(
    export: Path, tiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tiles service's own app (gzip entry bundles, caching headers) through uvicorn."""
    import threading
    import time

    import uvicorn

    from certlife.services.tiles.server import build_app

    port = _free_port()
    config = uvicorn.Config(build_app(tiles), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        code, report = _json(
            capsys, "log", f"http://127.0.0.1:{port}/", "--trust", str(export / "trust.json")
        )
    finally:
        server.should_exit = True
        thread.join(10)
    assert code == 0 and report["records"] == 403
