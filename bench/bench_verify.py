"""certverify throughput in both signature modes, beside raw Ed25519 and SHA-256 on all cores.

``python -m bench.bench_verify --records N [--seed S] [--jobs J] [--rounds R] [--out FILE]``

The export (``certctl fixtures``) is generated once into
``$CERTLIFE_HOME/bench/`` and reused (also by runs over fewer records).
Verification runs as ``certverify log`` does (export readers, worker pool,
sequential checks) over the first N records. The baselines use the same
records in the same run: PyNaCl ``crypto_sign_open`` over their signing
inputs and SHA-256 over their bytes, each in a warmed process pool of the
same size (in a child process, so its sample does not count in the
verifier's memory), measured before and after the verification runs (the
mean is the baseline; both are printed). Each figure is also given per CPU
second (the process tree's user + system time, ``bench.cputime``): on a
shared machine the wall-clock rates move with the other load, the CPU cost
per record much less. ``--rounds`` repeats baselines and runs and reports
medians. Peak memory: the sampled sum of the resident memory of the process
running one verification (a fresh child per signature mode, as one
``certverify log`` run) and all its descendants (forkserver workers
included), and ``getrusage`` (self; children = the largest finished child).
The issue 12 targets are printed with the figures they apply to.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from bench.common import Figure, median, report
from bench.cputime import tree_cpu_seconds
from bench.proctree import TreeRssSampler

CHUNK = 1000
BASELINE_SAMPLE = 50_000
RECORDS_PER_CERTIFICATE = 2.4  # what the fixture generator averages (a little less than measured)


def export_dir(records: int, seed: int) -> Path:
    """A fixtures export with at least about ``records`` records: the smallest one already
    generated for ``seed`` (runs read only its first ``records``), else a new one."""
    from certlife.services.demo.fixtures import generate
    from certlife.services.infra.stack.settings import StackSettings

    certificates = int(records / RECORDS_PER_CERTIFICATE) + 10
    cached = os.environ.get("CERTLIFE_BENCH_CACHE")
    home = Path(cached) if cached else StackSettings.from_env().home / "bench"
    existing = sorted(
        (int(p.name.split("-")[1][1:]), p)
        for p in home.glob(f"verify-c*-s{seed}")
        if (p / "log.jsonl").exists() and p.name.split("-")[1][1:].isdigit()
    )
    for size, found in existing:
        if size >= certificates:
            return found
    path = home / f"verify-c{certificates}-s{seed}"
    if not (path / "log.jsonl").exists():
        print(f"generating {certificates:,} certificates into {path} ...", file=sys.stderr)
        generate(path, certificates, seed, checkpoint_every=1000)
    return path


def _verify_chunk(chunk: list[tuple[bytes, bytes]]) -> int:
    from nacl.bindings import crypto_sign_open

    for signed, public in chunk:
        crypto_sign_open(signed, public)
    return len(chunk)


def _hash_chunk(chunk: list[bytes]) -> int:
    sha = hashlib.sha256
    for raw in chunk:
        sha(raw).digest()
    return len(chunk)


def _rate(
    pool: ProcessPoolExecutor, func: Callable[[Any], int], chunks: Sequence[object]
) -> tuple[float, float]:
    """(operations per second, operations per CPU second of the pool and this process)."""
    cpu, start = tree_cpu_seconds(), time.perf_counter()
    done = sum(pool.map(func, chunks))
    elapsed, cpu = time.perf_counter() - start, tree_cpu_seconds() - cpu
    return done / elapsed, done / max(cpu, 1e-9)


class Baselines:
    """Raw Ed25519 verification and SHA-256 over a sample of the records, in a warm pool."""

    def __init__(self, path: Path, jobs: int, sample: int) -> None:
        from certlife.contracts.records import parse_record
        from certlife.contracts.trust import KeyRing
        from certlife.services.partner.export import read_log_lines, read_trust

        ring, raws, signed = KeyRing(read_trust(path)), [], []
        for _, raw in itertools.islice(read_log_lines(path), sample):
            record = parse_record(raw)
            key = ring.key_for(record.key_id, record.index)
            raws.append(raw)
            signed.append((record.sig + record.signed_bytes(), key.public_raw))
            if record.action == "rotate":
                ring.apply_rotation(record)
        self.sigs = [signed[i : i + CHUNK] for i in range(0, len(signed), CHUNK)]
        self.raws = [raws[i : i + CHUNK] for i in range(0, len(raws), CHUNK)]
        self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("forkserver"))
        list(self.pool.map(_hash_chunk, [[b""]] * jobs))  # start the workers before timing

    def measure(self) -> Rates:
        """Ed25519 verifications and SHA-256 hashes, per second and per CPU second."""
        (ed, ed_cpu), (sha, sha_cpu) = (
            _rate(self.pool, _verify_chunk, self.sigs),
            _rate(self.pool, _hash_chunk, self.raws),
        )
        return Rates(ed, sha, ed_cpu, sha_cpu)


class Rates(NamedTuple):
    """Baseline rates: per wall-clock second (on all the pool's cores) and per CPU second."""

    ed25519: float
    sha256: float
    ed25519_cpu: float
    sha256_cpu: float


class Run(NamedTuple):
    """One verification run: records/s, records verified, peak MiB of the tree, records per CPU second."""

    rate: float
    records: int
    peak_mib: float
    per_cpu: float


def _baselines_child(path: Path, jobs: int, sample: int, out: Any) -> None:
    baselines = Baselines(path, jobs, sample)
    try:
        out.put(baselines.measure())
    finally:
        baselines.pool.shutdown()


def measure_baselines(path: Path, jobs: int, sample: int) -> Rates:
    """Run :class:`Baselines` in a child process, so its sample does not count in our memory."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_baselines_child, args=(path, jobs, sample, out))
    child.start()
    result: Rates = out.get()
    child.join()
    return result


def verify_rate(path: Path, records: int, mode: str, jobs: int) -> Run:
    """Rate, records, peak MiB of the process tree and records per CPU second of one ``certverify log`` run."""
    from certlife.contracts.verification import verify_log
    from certlife.services.partner.export import read_checkpoints, read_log_lines, read_trust
    from certlife.services.partner.ranges import plan_ranges

    trust = read_trust(path)
    checkpoints = [(size, note) for size, note in read_checkpoints(path) if size <= records]
    sampler = TreeRssSampler()
    sampler.start()
    cpu, start = tree_cpu_seconds(), time.perf_counter()
    if jobs > 1:  # as ``certverify log DIR``: workers read the export file themselves
        planner = plan_ranges(str(path / "log.jsonl"), max_records=records)
        result = verify_log(
            (),
            checkpoints,
            trust,
            signatures=mode,
            mapper=planner.pooled(jobs),
            planner=planner,
        )
    else:
        result = verify_log(
            itertools.islice(read_log_lines(path), records), checkpoints, trust, signatures=mode
        )
    elapsed = time.perf_counter() - start
    time.sleep(0.2)  # let the forkserver reap the workers (their CPU moves to its cutime)
    cpu = tree_cpu_seconds() - cpu
    return Run(result.records / elapsed, result.records, sampler.stop(), result.records / max(cpu, 1e-9))


def _verify_child(path: Path, records: int, mode: str, jobs: int, out: Any) -> None:
    out.put(verify_rate(path, records, mode, jobs))


def verify_rate_isolated(path: Path, records: int, mode: str, jobs: int) -> Run:
    """:func:`verify_rate` in a fresh child process: each run's memory is its own (as one ``certverify``)."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_verify_child, args=(path, records, mode, jobs, out))
    child.start()
    result: Run = out.get()
    child.join()
    return result


#: Issue 12: ``--signatures all`` at least this share of raw Ed25519 verify on all cores;
#: checkpoint mode at least this many records/s, under this peak memory on 1,000,000 records.
TARGET_ALL_RATIO = 0.80
TARGET_CHECKPOINT_RATE = 150_000
TARGET_PEAK_MIB = 300 * 1e6 / 2**20


def _round(path: Path, records: int, jobs: int, sample: int) -> tuple[Rates, Run, Run, Rates]:
    """Baselines, both verification runs, baselines again (each verification in a fresh child)."""
    before = measure_baselines(path, jobs, sample)
    every = verify_rate_isolated(path, records, "all", jobs)
    checkpoints = verify_rate_isolated(path, records, "checkpoints", jobs)
    return before, every, checkpoints, measure_baselines(path, jobs, sample)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print each figure beside its baseline (medians over ``--rounds``)."""
    from certlife.services.partner.parallel import default_jobs

    parser = argparse.ArgumentParser(prog="bench_verify", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (default: all usable cores)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat baselines + runs; report medians")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    jobs = args.jobs or default_jobs()
    path = export_dir(args.records, args.seed)
    sample = min(args.records, BASELINE_SAMPLE)
    rounds = [_round(path, args.records, jobs, sample) for _ in range(max(1, args.rounds))]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    def mid(pick: Callable[[tuple[Rates, Run, Run, Rates]], float]) -> float:
        return median([pick(r) for r in rounds])

    ed = mid(lambda r: (r[0].ed25519 + r[3].ed25519) / 2)
    sha = mid(lambda r: (r[0].sha256 + r[3].sha256) / 2)
    all_rate, cp_rate = mid(lambda r: r[1].rate), mid(lambda r: r[2].rate)
    all_ratio = mid(lambda r: r[1].rate / ((r[0].ed25519 + r[3].ed25519) / 2))
    ed_cpu = mid(lambda r: (r[0].ed25519_cpu + r[3].ed25519_cpu) / 2)
    all_cpu, cp_cpu = mid(lambda r: r[1].per_cpu), mid(lambda r: r[2].per_cpu)
    all_rss, cp_rss = max(r[1].peak_mib for r in rounds), max(r[2].peak_mib for r in rounds)
    figures = [
        Figure(
            "verify --signatures all, rec/s", all_rate, "rec/s", f"raw Ed25519 verify, {jobs} procs", ed,
            TARGET_ALL_RATIO,
        ),
        Figure(
            "verify --signatures checkpoints, rec/s", cp_rate, "rec/s", "issue 12 target rate",
            TARGET_CHECKPOINT_RATE, 1.0,
        ),
        Figure("verify --signatures checkpoints, rec/s", cp_rate, "rec/s", f"raw SHA-256, {jobs} procs", sha),
        Figure("verify --signatures checkpoints, rec/s", cp_rate, "rec/s", f"raw Ed25519 verify, {jobs} procs", ed),
        Figure("verify --signatures all, rec per CPU s", all_cpu, "rec/CPU-s", "raw Ed25519 verify per CPU s", ed_cpu),
    ]  # fmt: skip
    log = path / "log.jsonl"
    extra: dict[str, object] = {
        "records verified": f"{rounds[0][1].records:,} of {log} ({log.stat().st_size / 1e6:,.0f} MB)",
        "jobs / usable cores": f"{jobs} / {default_jobs()}",
        "rounds (medians reported)": len(rounds),
        "signatures all / raw Ed25519 per round": ", ".join(
            f"{r[1].rate / ((r[0].ed25519 + r[3].ed25519) / 2):.2f}" for r in rounds
        ),
        "median of the per-round ratios, all": f"{all_ratio:.2f}",
        "raw Ed25519 before / after": "; ".join(f"{r[0].ed25519:,.0f} / {r[3].ed25519:,.0f}" for r in rounds),
        "raw SHA-256 before / after": "; ".join(f"{r[0].sha256:,.0f} / {r[3].sha256:,.0f}" for r in rounds),
        "records per CPU second, all / checkpoints": f"{all_cpu:,.0f} / {cp_cpu:,.0f}",
        "peak RSS, process tree (sampled sum)": (
            f"all {all_rss:,.0f} MiB, checkpoints {cp_rss:,.0f} MiB "
            f"(target < 300 MB = {TARGET_PEAK_MIB:.0f} MiB: {'met' if cp_rss < TARGET_PEAK_MIB else 'NOT MET'})"
        ),
        "peak RSS, getrusage self / children": f"{own:,.0f} MiB / {children:,.0f} MiB",
    }
    report("certverify log", figures, extra, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
