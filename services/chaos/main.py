"""Steady mixed load on a private stack while faults are injected; then the invariants (``./dev chaos``).

Starts its own Kafka (one broker or a 3-node cluster) and PostgreSQL on ports of
its own (:mod:`.privstack`; never the default stack), runs the command service,
relay and projections under ``certctl serve all``, plays the demo's lifecycle
traffic with exact re-sends at a steady rate, and injects faults one at a time
with recovery in between (:mod:`.faults`). Afterwards it checks every invariant
(:mod:`.checks`), measures each fault's recovery, writes ``report.md``,
``report.json`` and ``timeline.png`` into a folder it prints, and exits 0 only if
every invariant held.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from certlife.services.cli.base import run_guarded

#: Runs of at least this many minutes get the full schedule (three kills per service, 60 s outages).
FULL_MINUTES = 8.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="./dev chaos", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="minutes of load (default 10; <8: short mode)"
    )
    parser.add_argument("--brokers", type=int, choices=(1, 3), default=1, help="Kafka nodes (default 1)")
    parser.add_argument("--rate", type=float, default=60.0, help="commands a second (default 60)")
    parser.add_argument(
        "--outage",
        type=float,
        default=None,
        help="seconds a broker or PostgreSQL stays down (default 60; short: 10)",
    )
    parser.add_argument(
        "--pg-replica",
        action="store_true",
        help="PostgreSQL with a synchronous replica; adds the primary-kill + promotion fault",
    )
    parser.add_argument(
        "--faults",
        choices=("all", "cluster"),
        default="all",
        help="all (default), or cluster: only the node kills of --brokers 3 and the failover of --pg-replica",
    )
    parser.add_argument("--out", type=Path, default=None, help="report folder (default: the run's folder)")
    parser.add_argument("--seed", type=int, default=2026, help="traffic seed")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 0.5 <= args.minutes <= 240:
        parser.error("--minutes must lie between 0.5 and 240")
    if not 1 <= args.rate <= 1000:
        parser.error("--rate must lie between 1 and 1000 commands a second")
    full = args.minutes >= FULL_MINUTES
    args.outage = args.outage if args.outage is not None else (60.0 if full else 10.0)
    if not 1 <= args.outage <= 600:
        parser.error("--outage must lie between 1 and 600 seconds")
    args.full = full
    if args.faults == "cluster" and args.brokers == 1:
        parser.error("--faults cluster needs --brokers 3 (one broker has no cluster faults)")


def _run(args: argparse.Namespace) -> int:
    from certlife.services.chaos import privstack
    from certlife.services.chaos.run import chaos
    from certlife.services.infra.stack.settings import StackSettings

    base = StackSettings.from_env().home  # the caller's cache: jars, and the slots' folders
    with privstack.claimed(base, args.brokers) as stack:
        env = {**privstack.scrubbed_environ(), **stack.env}
        os.environ.clear()
        os.environ.update(env)  # every certlife process of the run now selects the private stack
        print(f"chaos: private stack in {stack.settings.home} (Kafka {stack.settings.kafka_bootstrap}, "
              f"PostgreSQL 127.0.0.1:{stack.settings.postgres_port})", flush=True)  # fmt: skip
        try:
            report, path = asyncio.run(chaos(stack, args))
        finally:
            stopped = stack.down()
            print(f"chaos: private stack stopped ({', '.join(stopped) or 'nothing running'})", flush=True)
    print(path.read_text())
    print(f"chaos: report, data and timeline in {path.parent}")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``./dev chaos``."""
    parser = _parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    return run_guarded("chaos", lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
