"""certverify throughput in both signature modes, beside raw Ed25519 and SHA-256 on all cores.

``python -m bench.bench_verify --records N [--seed S] [--jobs J] [--out FILE]``

The export (``certctl fixtures``) is generated once into
``$CERTLIFE_HOME/bench/`` and reused. Verification runs as ``certverify log``
does (export readers, worker pool, sequential checks) over the first N
records. The baselines use the same records in the same run: PyNaCl
``crypto_sign_open`` over their signing inputs and SHA-256 over their bytes,
each in a warmed process pool of the same size (in a child process, so its
sample does not count in the verifier's memory), measured before and after the
verification runs (the mean is the baseline; both are printed). Peak memory:
the sampled sum of the resident memory of the process running one verification
(a fresh child per signature mode, as one ``certverify log`` run) and all its
descendants (forkserver workers included), and ``getrusage`` (self; children =
the largest finished child).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import Figure, report
from bench.rss import RssSampler

CHUNK = 1000
BASELINE_SAMPLE = 50_000
RECORDS_PER_CERTIFICATE = 2.4  # what the fixture generator averages (a little less than measured)


def export_dir(records: int, seed: int) -> Path:
    """A fixtures export with at least about ``records`` records, generated on first use."""
    from certlife.services.demo.fixtures import generate
    from certlife.services.infra.stack.settings import StackSettings

    certificates = int(records / RECORDS_PER_CERTIFICATE) + 10
    path = StackSettings.from_env().home / "bench" / f"verify-c{certificates}-s{seed}"
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


def _rate(pool: ProcessPoolExecutor, func: Callable[[Any], int], chunks: Sequence[object]) -> float:
    start = time.perf_counter()
    done = sum(pool.map(func, chunks))
    return done / (time.perf_counter() - start)


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

    def measure(self) -> tuple[float, float]:
        """(Ed25519 verifications/s, SHA-256 hashes/s)."""
        return _rate(self.pool, _verify_chunk, self.sigs), _rate(self.pool, _hash_chunk, self.raws)


def _baselines_child(path: Path, jobs: int, sample: int, out: Any) -> None:
    baselines = Baselines(path, jobs, sample)
    try:
        out.put(baselines.measure())
    finally:
        baselines.pool.shutdown()


def measure_baselines(path: Path, jobs: int, sample: int) -> tuple[float, float]:
    """Run :class:`Baselines` in a child process, so its sample does not count in our memory."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_baselines_child, args=(path, jobs, sample, out))
    child.start()
    result: tuple[float, float] = out.get()
    child.join()
    return result


def verify_rate(path: Path, records: int, mode: str, jobs: int) -> tuple[float, int, float]:
    """(records/s, records verified, peak MiB of the process tree) of one ``certverify log`` run."""
    from certlife.contracts.verification import verify_log
    from certlife.services.partner.export import read_checkpoints, read_log_lines, read_trust
    from certlife.services.partner.parallel import pool_mapper
    from certlife.services.partner.ranges import batch_for_range, plan_ranges

    trust = read_trust(path)
    checkpoints = [(size, note) for size, note in read_checkpoints(path) if size <= records]
    sampler = RssSampler()
    sampler.start()
    start = time.perf_counter()
    if jobs > 1:  # as ``certverify log DIR``: workers read the export file themselves
        planner = plan_ranges(str(path / "log.jsonl"), max_records=records)
        result = verify_log(
            (),
            checkpoints,
            trust,
            signatures=mode,
            mapper=pool_mapper(jobs, worker=batch_for_range),
            planner=planner,
        )
    else:
        result = verify_log(
            itertools.islice(read_log_lines(path), records), checkpoints, trust, signatures=mode
        )
    elapsed = time.perf_counter() - start
    return result.records / elapsed, result.records, sampler.stop()


def _verify_child(path: Path, records: int, mode: str, jobs: int, out: Any) -> None:
    out.put(verify_rate(path, records, mode, jobs))


def verify_rate_isolated(path: Path, records: int, mode: str, jobs: int) -> tuple[float, int, float]:
    """:func:`verify_rate` in a fresh child process: each run's memory is its own (as one ``certverify``)."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_verify_child, args=(path, records, mode, jobs, out))
    child.start()
    result: tuple[float, int, float] = out.get()
    child.join()
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print each figure beside its baseline."""
    from certlife.services.partner.parallel import default_jobs

    parser = argparse.ArgumentParser(prog="bench_verify", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (default: all usable cores)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    jobs = args.jobs or default_jobs()
    path = export_dir(args.records, args.seed)
    sample = min(args.records, BASELINE_SAMPLE)
    ed_before, sha_before = measure_baselines(path, jobs, sample)
    all_rate, verified, all_rss = verify_rate_isolated(path, args.records, "all", jobs)
    cp_rate, _, cp_rss = verify_rate_isolated(path, args.records, "checkpoints", jobs)
    ed_after, sha_after = measure_baselines(path, jobs, sample)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ed, sha = (ed_before + ed_after) / 2, (sha_before + sha_after) / 2
    figures = [
        Figure("verify --signatures all, rec/s", all_rate, "rec/s", f"raw Ed25519 verify, {jobs} procs", ed),
        Figure("verify --signatures checkpoints, rec/s", cp_rate, "rec/s", f"raw SHA-256, {jobs} procs", sha),
        Figure(
            "verify --signatures checkpoints, rec/s",
            cp_rate,
            "rec/s",
            f"raw Ed25519 verify, {jobs} procs",
            ed,
        ),
    ]
    extra: dict[str, object] = {
        "records verified": f"{verified:,} of {path / 'log.jsonl'} ({(path / 'log.jsonl').stat().st_size / 1e6:,.0f} MB)",
        "jobs / usable cores": f"{jobs} / {default_jobs()}",
        "raw Ed25519 before / after": f"{ed_before:,.0f} / {ed_after:,.0f} verifications/s",
        "raw SHA-256 before / after": f"{sha_before:,.0f} / {sha_after:,.0f} hashes/s",
        "peak RSS, process tree (sampled sum)": f"all {all_rss:,.0f} MiB, checkpoints {cp_rss:,.0f} MiB",
        "peak RSS, getrusage self / children": f"{own:,.0f} MiB / {children:,.0f} MiB",
    }
    report("certverify log", figures, extra, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
