"""``certverify log URL`` reading C2SP tlog-tiles over HTTP, beside ``certverify log DIR`` on the same log.

``python -m bench.bench_tiles --records N [--seed S] [--jobs J] [--rounds R] [--out FILE]``

The log: the first N records (down to a checkpoint) of the fixtures export
``bench.bench_verify`` uses, as an export of its own and as tiles built from it
(``certctl tiles build``), both kept under ``$CERTLIFE_HOME/bench/`` and reused.
The tiles are served by ``certctl serve tiles`` (Starlette on uvicorn, its own
process, 127.0.0.1). Each round runs, in fresh processes and alternating,
``certverify log URL`` and ``certverify log DIR`` (same trust file, same
``--jobs``) and, as a third figure, the reader alone (checkpoint, entry bundles
and hash tiles fetched and checked against the root, no record verification).
Figures are medians of the rounds, in records per second; the tiles read's
ratio to the export is the figure the issue asks for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Figure, median, report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(records: int, seed: int) -> tuple[Path, Path, int]:
    """``(export, tiles, size)``: the first ``records`` records down to a checkpoint, both forms."""
    from bench.bench_verify import export_dir
    from certlife.services.partner.export import read_checkpoints
    from certlife.services.tiles.build import build_tiles

    source = export_dir(records, seed)
    size = max(n for n, _ in read_checkpoints(source) if n <= records)
    home = source.parent / f"tiles-r{size}-s{seed}"
    export, tiles = home / "export", home / "tiles"
    if not (tiles / "checkpoint").exists():
        print(f"writing {size:,} records as an export and as tiles into {home} ...", file=sys.stderr)
        shutil.rmtree(home, ignore_errors=True)
        (export / "checkpoints").mkdir(parents=True)
        shutil.copy(source / "trust.json", export / "trust.json")
        for n, note in read_checkpoints(source):
            if n <= size:
                (export / "checkpoints" / str(n)).write_text(note)
        with (source / "log.jsonl").open("rb") as src, (export / "log.jsonl").open("wb") as dst:
            for _ in range(size):
                dst.write(src.readline())
        build_tiles(export, tiles)
    return export, tiles, size


class TilesServer:
    """``certctl serve tiles DIR`` on a free port of 127.0.0.1, in its own process."""

    def __init__(self, tiles: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        argv = [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "tiles", str(tiles)]
        self.proc = subprocess.Popen(
            [*argv, "--port", str(self.port), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise SystemExit("bench_tiles: certctl serve tiles exited")
            time.sleep(0.1)
        self.stop()
        raise SystemExit("bench_tiles: certctl serve tiles did not start listening")

    def stop(self) -> None:
        """Stop the server process (the one this benchmark started)."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def certverify_rate(source: str, trust: Path, jobs: int) -> tuple[float, int]:
    """``(records/s, records)`` of one ``certverify log SOURCE --json`` process (wall clock, start included)."""
    argv = [
        sys.executable,
        "-m",
        "certlife.services.partner.certverify",
        "log",
        source,
        "--trust",
        str(trust),
    ]
    if jobs:
        argv += ["--jobs", str(jobs)]
    start = time.perf_counter()
    done = subprocess.run([*argv, "--json"], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    result = json.loads(done.stdout) if done.stdout.strip() else {}
    if done.returncode != 0 or not result.get("ok"):
        raise SystemExit(f"bench_tiles: certverify log {source} failed: {done.stdout or done.stderr}")
    return result["records"] / elapsed, int(result["records"])


async def _read_only(url: str) -> int:
    from certlife.services.partner.tiles_http import TileFetcher
    from certlife.services.partner.tiles_source import TiledLog, checkpoint_of, read_checkpoint

    async with TileFetcher(url) as fetcher:
        claimed = checkpoint_of(await read_checkpoint(fetcher))
        assert claimed is not None
        log = TiledLog(fetcher, claimed.size, claimed.root_hash)
        await log.start()
        count = 0
        async for _ in log.entries():
            count += 1
        return count


def reader_rate(url: str) -> float:
    """Records/s of the tiles reader alone (fetch, decode, hash-tile checks), in this process."""
    start = time.perf_counter()
    count = asyncio.run(_read_only(url))
    return count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(prog="bench_tiles", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=0, help="certverify --jobs (default: all CPUs)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    export, tiles, size = prepare(args.records, args.seed)
    trust = export / "trust.json"
    server = TilesServer(tiles)
    tiles_rates: list[float] = []
    export_rates: list[float] = []
    reader_rates: list[float] = []
    try:
        for _ in range(args.rounds):
            rate, count = certverify_rate(server.url, trust, args.jobs)
            assert count == size
            tiles_rates.append(rate)
            export_rates.append(certverify_rate(str(export), trust, args.jobs)[0])
            reader_rates.append(reader_rate(server.url))
    finally:
        server.stop()
    export_rate = median(export_rates)
    figures = [
        Figure(
            "certverify log URL (tiles over HTTP)",
            median(tiles_rates),
            "records/s",
            "certverify log DIR (export, same log)",
            export_rate,
        ),
        Figure(
            "tiles reader alone (fetch + hash tiles)",
            median(reader_rates),
            "records/s",
            "certverify log DIR (export, same log)",
            export_rate,
        ),
    ]
    bundle_bytes = sum(p.stat().st_size for p in (tiles / "tile" / "entries").rglob("*") if p.is_file())
    extra = {
        "records": size,
        "rounds": args.rounds,
        "jobs": args.jobs or "all CPUs",
        "entry bundle bytes on disk": bundle_bytes,
        "tiles rates": [round(r) for r in tiles_rates],
        "export rates": [round(r) for r in export_rates],
        "reader rates": [round(r) for r in reader_rates],
        "server": "certctl serve tiles (uvicorn, own process, 127.0.0.1)",
    }
    report("certverify log: tiles over HTTP vs export directory", figures, extra, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
