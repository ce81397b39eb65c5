"""The stack the benchmarks run on: by default a private one, started for the run and stopped after it.

A broker that has served many test runs carries thousands of leftover
partitions, and keeping them costs it CPU all the time (measured on the dev
stack with about 15,000 of them: a quarter of a core, idle). Figures taken
on it depend on its history, not on certlife. ``./dev bench`` therefore
claims a private stack slot (``services/chaos/privstack.py``: its own ports,
empty Kafka data, a new PostgreSQL cluster), runs every benchmark on it and
stops it. A new broker runs its first minute slowly (its JVM compiles): two
benchmarks run first as a warm-up, their figures discarded. Generated logs
stay in ``$CERTLIFE_HOME/bench`` (``CERTLIFE_BENCH_CACHE``), reused by every
run. ``--shared-stack`` uses the local stack instead (for its plaintext
listener, see the README), and endpoints set in the environment
(``CERTLIFE_KAFKA_BOOTSTRAP`` and ``CERTLIFE_DATABASE_URL``) are used as they are.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

#: Runs before the measured ones, output discarded: a new broker's JVM compiles its hot paths
#: during its first minute (a cold broker cost the first benchmark about a fifth of its rate).
WARM_UP = (
    ["bench.bench_relay", "--events", "20000"],
    ["bench.bench_projections", "--events", "20000"],
)


def _warm_up(env: dict[str, str]) -> None:
    """Run :data:`WARM_UP` on the new stack; a failure there is reported by the measured run."""
    started = time.monotonic()
    for argv in WARM_UP:
        subprocess.run([sys.executable, "-m", *argv], env=env, stdout=subprocess.DEVNULL, check=False)
    print(f"bench: warm-up runs took {time.monotonic() - started:.0f} s", flush=True)


@contextlib.contextmanager
def bench_stack(shared: bool) -> Iterator[tuple[dict[str, str], str]]:
    """The benchmarks' environment and a one-line description of the stack it selects."""
    if os.environ.get("CERTLIFE_KAFKA_BOOTSTRAP") and os.environ.get("CERTLIFE_DATABASE_URL"):
        yield dict(os.environ), "the endpoints set in the environment"
        return
    if shared:
        yield dict(os.environ), "the shared local stack (--shared-stack)"
        return
    from certlife.services.chaos import privstack

    base = Path(os.environ.get("CERTLIFE_HOME") or Path.home() / ".cache" / "certlife")
    with privstack.claimed(base, brokers=1) as private:
        started = time.monotonic()
        print(f"bench: starting a private stack (slot {private.slot}: empty broker, new PostgreSQL cluster)")
        try:
            private.up("")
            print(f"bench: private stack up in {time.monotonic() - started:.0f} s", flush=True)
            env = {**os.environ, **private.env, "CERTLIFE_BENCH_CACHE": str(base / "bench")}
            _warm_up(env)
            where = (
                f"a private stack started for this run (Kafka 127.0.0.1:{private.settings.kafka_port}, "
                f"PostgreSQL 127.0.0.1:{private.settings.postgres_port}, both empty at the start, "
                "warmed up by one relay and one projections run whose figures are not reported)"
            )
            yield env, where
        finally:
            private.down()
