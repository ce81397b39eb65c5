"""``certctl serve api`` status lookups beside a bare SQL lookup of the same rows, in the same run.

``python -m bench.bench_api [--certificates N] [--seconds S] [--concurrency C] [--out FILE]``

A log of N issued certificates (signed records, deterministic keys) is applied
to a fresh schema's read models by the projections' own writers and written
as tiles with one published checkpoint. ``certctl serve api`` runs in its own
process (127.0.0.1, no rate limit) on that schema and tiles directory. For S
seconds each, C concurrent clients (one asyncio loop, one keep-alive HTTP/1.1
connection each, a minimal client: httpx would be the bottleneck on 2 cores) ask
for random certificates: ``GET /v1/certificates/{number}``, then the same
with ``?proof=1``; the baseline is C concurrent asyncpg sessions running
``SELECT * FROM certificates WHERE number = $1`` for the same numbers.
Figures: lookups per second and p99 latency (ms) of each.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import Figure, create_schema, endpoints, fresh_names, profile, report
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.records import RecordSigner, build_certificate_record, parse_record
from certlife.contracts.trust import TrustedKey, TrustFile
from certlife.projections.registry import PROJECTIONS
from certlife.projections.tracking import Position, create_tracking, ensure_projection, save_position
from certlife.services.tiles.writer import TileWriter

ORIGIN = "bench.certlife.example/log"


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def build_log(count: int) -> tuple[list[bytes], str, TrustFile]:
    """``count`` issued certificates, a signed checkpoint of them, and the trust file."""
    signer, notes = RecordSigner(_key("record")), NoteSigner(ORIGIN, _key("note"))
    records = []
    for i in range(count):
        number = f"BENCH-{i:07d}"
        cert = {
            "number": number,
            "scheme": "CB",
            "holder": f"Holder {i % 997}",
            "manufacturer": f"Maker {i % 101}",
            "factories": ["Stuttgart"],
            "product": "DC EV charger",
            "models": [f"DC-{i % 50}"],
            "standards": ["IEC 61851-1:2017"],
            "scope": "conductive charging",
            "validFrom": "2025-01-01",
            "validUntil": "2030-01-01",
        }
        t = "2025-03-01T00:00:00Z"
        records.append(
            build_certificate_record(
                origin=ORIGIN,
                index=i,
                certificate=cert,
                event="issued",
                status="valid",
                seq=1,
                prev=None,
                reason=None,
                effective_at=t,
                recorded_at=t,
                signer=signer,
            )
        )
    writer_root = _root(records)
    note = sign_checkpoint(Checkpoint(ORIGIN, count, writer_root), notes)
    trust = TrustFile(ORIGIN, (TrustedKey(signer.key_id, signer.public_raw),), (notes.verifier_key(),))
    return records, note, trust


def _root(records: list[bytes]) -> bytes:
    from certlife.contracts.merkle import MerkleFrontier, leaf_hash

    frontier = MerkleFrontier()
    frontier.extend(leaf_hash(r) for r in records)
    return frontier.root()


async def load(database_url: str, schema: str, records: list[bytes]) -> None:
    """Apply ``records`` to the read models of ``schema`` with the projections' writers."""
    parsed = [parse_record(r) for r in records]
    s = f'"{schema}"'
    conn = await asyncpg.connect(database_url)
    try:
        await create_tracking(conn, s)
        for p in PROJECTIONS.values():
            generation = await ensure_projection(conn, s, p)
            for at in range(0, len(parsed), 5000):
                async with conn.transaction():
                    await p.write_live(conn, s, generation, parsed[at : at + 5000], "certlife.example")
            async with conn.transaction():
                await save_position(conn, s, p.name, Position(generation, len(parsed) - 1, len(parsed)))
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_api(
    database_url: str, schema: str, tiles: Path, trust: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """``certctl serve api`` on a free port; its base URL once it answers."""
    port = _free_port()
    env = {
        **os.environ,
        "CERTLIFE_DATABASE_URL": database_url,
        "CERTLIFE_DB_SCHEMA": schema,
        "CERTLIFE_TILES_DIR": str(tiles),
        "CERTLIFE_TRUST_FILE": str(trust),
        "CERTLIFE_API_PORT": str(port),
        "CERTLIFE_API_RATE": "0",
    }
    argv = [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "api", "--log-level", "WARNING"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"certctl serve api exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/v1/counts", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("certctl serve api did not answer within 60 s")


async def measure(
    lookup: Callable[[str], Awaitable[None]], numbers: list[str], seconds: float, concurrency: int
) -> tuple[float, float]:
    """Lookups per second and p99 latency (ms) of ``concurrency`` workers for ``seconds``."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    rng = random.Random(7)

    async def worker() -> None:
        while time.perf_counter() < deadline:
            number = numbers[rng.randrange(len(numbers))]
            started = time.perf_counter()
            await lookup(number)
            latencies.append(time.perf_counter() - started)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(0.99 * (len(latencies) - 1))] * 1000


class Connection:
    """One keep-alive HTTP/1.1 connection (asyncio streams): a far lighter client than httpx, so
    that on a small machine the figure is the server's, not the client's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        """Connect to ``http://HOST:PORT``."""
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def get(self, path: str) -> tuple[int, bytes]:
        """``GET path``: status and body."""
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(v) for k, _, v in (h.partition(b":") for h in lines[1:]) if k.lower() == b"content-length"
        )
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


async def run(url: str, database_url: str, schema: str, numbers: list[str], seconds: float, c: int) -> dict:
    """The three measurements (API, API with proof, bare SQL)."""
    out = {}
    connections = [await Connection.open(url) for _ in range(c)]
    free = list(connections)

    async def call(path: str, want: bytes) -> None:
        conn = free.pop()
        try:
            status, body = await conn.get(path)
        finally:
            free.append(conn)
        assert status == 200 and want in body, body[:200]

    async def api(number: str) -> None:
        await call(f"/v1/certificates/{number}", b'"status"')

    async def api_proof(number: str) -> None:
        await call(f"/v1/certificates/{number}?proof=1", b'"proof"')

    try:
        await measure(api, numbers, 1.0, c)  # warm up
        out["api"] = await measure(api, numbers, seconds, c)
        out["proof"] = await measure(api_proof, numbers, seconds, c)
    finally:
        for conn in connections:
            conn.close()
    pool = await asyncpg.create_pool(database_url, min_size=c, max_size=c)
    try:
        sql = f'SELECT * FROM "{schema}".certificates WHERE number = $1'

        async def bare(number: str) -> None:
            async with pool.acquire() as conn:
                assert await conn.fetchrow(sql, number) is not None

        await measure(bare, numbers, 1.0, c)
        out["sql"] = await measure(bare, numbers, seconds, c)
    finally:
        await pool.close()
    return out


async def _drop(database_url: str, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    """Build the log, start the API, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    _, database_url = endpoints()
    _, schema = fresh_names("api")
    create_schema(database_url, schema)
    records, note, trust = build_log(args.certificates)
    asyncio.run(load(database_url, schema, records))
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        tiles, trust_file = Path(tmp) / "tiles", Path(tmp) / "trust.json"
        writer = TileWriter(tiles)
        writer.append(records)
        writer.publish(note)
        trust_file.write_bytes(trust.to_bytes())
        proc, url = start_api(database_url, schema, tiles, trust_file)
        spy = profile(proc.pid, "api")  # CERTLIFE_BENCH_PROFILE=DIR: py-spy of the API process
        try:
            numbers = [f"BENCH-{i:07d}" for i in range(args.certificates)]
            got = asyncio.run(run(url, database_url, schema, numbers, args.seconds, args.concurrency))
        finally:
            proc.terminate()
            proc.wait(10)
            if spy is not None:
                spy.wait(30)
    asyncio.run(_drop(database_url, schema))
    (api_rate, api_p99), (proof_rate, proof_p99), (sql_rate, sql_p99) = got["api"], got["proof"], got["sql"]
    figures = [
        Figure("API status lookups", api_rate, "lookups/s", "bare SQL lookups (asyncpg)", sql_rate),
        Figure(
            "API status lookups with ?proof=1",
            proof_rate,
            "lookups/s",
            "bare SQL lookups (asyncpg)",
            sql_rate,
        ),
    ]
    extra = {
        "p99 ms (API / API ?proof=1 / bare SQL)": f"{api_p99:.1f} / {proof_p99:.1f} / {sql_p99:.1f}",
        "certificates": args.certificates,
        "concurrency": args.concurrency,
        "seconds per figure": args.seconds,
    }
    report("status API lookups", figures, extra, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
