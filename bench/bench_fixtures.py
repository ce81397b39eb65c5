"""Fixture generation throughput against raw Ed25519 signing measured in the same run.

``python -m bench.bench_fixtures --certificates N [--workers W] [--seed S]``

Raw signing is measured before and after the generation (one core,
``cryptography``, record-sized messages) so that a busy machine shows up in
both figures; the ratio is what to compare between runs and machines.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.common import raw_sign_rate
from certlife.services.demo.fixtures import default_workers, generate

RECORD_INPUT = 1000  # bytes: about one record's signing input


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures side by side."""
    parser = argparse.ArgumentParser(prog="bench_fixtures", description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core for large runs")
    args = parser.parse_args(argv)
    workers = default_workers(args.certificates) if args.workers is None else args.workers
    before = raw_sign_rate(RECORD_INPUT)
    with tempfile.TemporaryDirectory(prefix="certlife-bench-") as tmp:
        start = time.perf_counter()
        summary = generate(Path(tmp) / "export", args.certificates, args.seed, workers=workers)
        elapsed = time.perf_counter() - start
        size = (Path(tmp) / "export" / "log.jsonl").stat().st_size
    after = raw_sign_rate(RECORD_INPUT)
    raw, cores, rate = (before + after) / 2, _cores(), summary.records / elapsed
    own, children = _peak_rss_mb()
    rows = [
        ("certificates", f"{summary.certificates:,}"),
        ("records", f"{summary.records:,} ({size / 1e6:,.0f} MB log, {summary.checkpoints} checkpoints)"),
        ("workers / usable cores", f"{workers} / {cores}"),
        ("elapsed", f"{elapsed:,.1f} s"),
        ("generated records/s", f"{rate:,.0f}"),
        ("raw Ed25519 signs/s, 1 core", f"{raw:,.0f} (before {before:,.0f}, after {after:,.0f})"),
        (f"raw Ed25519 signs/s, {cores} cores", f"{raw * cores:,.0f}"),
        ("ratio generated / raw 1 core", f"{rate / raw:.2f}"),
        (f"ratio generated / raw {cores} cores", f"{rate / (raw * cores):.2f}"),
        ("peak RSS main / largest worker", f"{own:,.0f} MB / {children:,.0f} MB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
