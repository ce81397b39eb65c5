"""Run every benchmark: ``python -m bench [--shared-stack] [NAME ...]`` (``./dev bench``).

Each benchmark prints its figures beside a baseline measured in the same run,
on a private stack started for the run (``bench/stack.py``) unless
``--shared-stack`` or endpoints in the environment say otherwise.
This runner executes them one after another, echoes their output, and writes
``bench/results/latest.json`` (raw output per benchmark, plus the end-to-end
figures) and ``bench/results/latest.md`` (a table), and the end-to-end
latency plot ``bench/results/e2e.png``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cputime import stack_holders
from bench.foreign import MARK, WARN_CORES, ForeignCpu
from bench.stack import bench_stack

RESULTS = Path("bench/results")

#: name -> module arguments; sized to finish in minutes on 2 cores.
BENCHMARKS: dict[str, list[str]] = {
    "commands": ["bench.bench_commands", "--commands", "20000", "--single-limit", "5000", "--rounds", "5"],
    "txn": ["bench.bench_txn"],
    "relay": ["bench.bench_relay", "--events", "20000", "--rounds", "3"],
    "projections": ["bench.bench_projections", "--events", "40000", "--rounds", "3"],
    "mirror": ["bench.bench_mirror", "--certificates", "20000"],
    "fixtures": ["bench.bench_fixtures", "--certificates", "100000"],
    "verify": ["bench.bench_verify", "--records", "1000000", "--rounds", "3"],
    "tiles": ["bench.bench_tiles", "--records", "200000"],
    "e2e": ["bench.bench_e2e", "--duration", "60"],
    "cosign": ["bench.bench_cosign", "--checkpoints", "200"],
    "api": ["bench.bench_api", "--certificates", "20000", "--seconds", "10"],
}


def _run(name: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    print(f"\n### {name}: python -m {' '.join(argv)}", flush=True)
    start = time.monotonic()
    # The stack's servers are found now: a benchmark may restart them, and what they run is ours.
    servers = stack_holders({}, env).values()
    beside = ForeignCpu([os.getpid(), *servers], env.get(MARK))
    proc = subprocess.Popen([sys.executable, "-m", *argv], stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    code = proc.wait()
    foreign = beside.stop()
    print(foreign.describe(), flush=True)
    return {
        "name": name,
        "command": argv,
        "exitCode": code,
        "seconds": round(time.monotonic() - start, 1),
        "output": [*lines, foreign.describe()],
        "foreignCores": round(foreign.cores, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (default: all) on the benchmarks' stack and write the reports."""
    args = list(argv if argv is not None else sys.argv[1:])
    shared = "--shared-stack" in args
    names = [a for a in args if a != "--shared-stack"] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(
            f"bench: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    os.environ[MARK] = uuid.uuid4().hex  # inherited by every process of the run, the stack's too
    with bench_stack(shared) as (env, where):
        runs = [_run(name, BENCHMARKS[name], env) for name in names]
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "stack": where,
        "runs": runs,
    }
    e2e = RESULTS / "e2e.json"
    if "e2e" in names and e2e.exists():
        report["e2e"] = json.loads(e2e.read_text())
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2))
    md = [f"# certlife benchmarks ({report['when']}, 2 cores, everything local)", "", f"Run on {where}.", ""]
    targets = [line for run in runs for line in run["output"] if "target" in line.lower()]
    targets += [
        f"warning: other processes took {run['foreignCores']:.2f} cores on average during {run['name']}: "
        "its figures are suspect (see its section)"
        for run in runs
        if run["foreignCores"] > WARN_CORES
    ]
    if targets:
        md += ["## Issue 12's targets in this run", "", "```", *targets, "```", ""]
    if (RESULTS / "e2e.png").exists() and "e2e" in names:
        md += ["End-to-end latency by offered rate: ![e2e](e2e.png)", ""]
    for run in runs:
        md += [
            f"## {run['name']} (exit {run['exitCode']}, {run['seconds']} s)",
            "",
            "```",
            *[str(line) for line in run["output"]],
            "```",
            "",
        ]
    (RESULTS / "latest.md").write_text("\n".join(md))
    print(f"\nwrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.md'}")
    return 0 if all(r["exitCode"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
