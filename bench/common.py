"""Shared pieces of the benchmarks: infrastructure, isolation, reporting."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg

from certlife.services.infra.kafka_access import KafkaAccess
from certlife.services.infra.settings import Settings


def endpoints() -> tuple[str, str]:
    """Kafka bootstrap and database URL: from the environment, else the local stack."""
    from certlife.services.infra.stack import resolve_endpoints

    return resolve_endpoints()


def fresh_names(tag: str) -> tuple[str, str]:
    """A unique topic prefix and schema name for one benchmark run."""
    token = uuid.uuid4().hex[:8]
    return f"bench{token}.{tag}.", f"bench_{tag}_{token}"


def create_schema(database_url: str, schema: str) -> None:
    """Create ``schema`` (the event store and the relay's tables go there)."""

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        finally:
            await conn.close()

    asyncio.run(run())


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its same-run baseline."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    #: The ratio issue 12 asks for (value / baseline at least this), or None.
    target: float | None = None

    @property
    def ratio(self) -> float:
        """value / baseline."""
        return self.value / self.baseline if self.baseline else float("nan")

    @property
    def met(self) -> bool | None:
        """Whether the ratio reaches the target (None without a target)."""
        return None if self.target is None else self.ratio >= self.target

    def line(self) -> str:
        """A printable row; with a target, whether it is met."""
        row = (
            f"{self.name:<44} {self.value:>12,.0f} {self.unit:<10} | {self.baseline_name:<40} "
            f"{self.baseline:>12,.0f} | ratio {self.ratio:6.2f}"
        )
        if self.target is not None:
            row += f" | target >= {self.target:g}: {'met' if self.met else 'NOT MET'}"
        return row


def report(title: str, figures: list[Figure], extra: dict[str, object], out: Path | None) -> None:
    """Print the figures and optionally write them as JSON."""
    print(f"== {title}")
    for fig in figures:
        print(fig.line())
    for key, value in extra.items():
        print(f"{key}: {value}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "title": title,
            "figures": [asdict(f) | {"ratio": f.ratio, "met": f.met} for f in figures],
            **extra,
        }
        out.write_text(json.dumps(payload, indent=2, default=str))


def median(values: list[float]) -> float:
    """The median (robust against a noisy machine)."""
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """The value below which a share ``q`` of ``values`` lies (nearest rank; NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def kafka_access(bootstrap: str, env: Mapping[str, str] | None = None) -> KafkaAccess:
    """The operator's Kafka access to ``bootstrap``: ``CERTLIFE_KAFKA_*`` of ``env`` (default: this
    process's environment), else the local stack's admin."""
    return Settings.from_env(
        {**(os.environ if env is None else env), "CERTLIFE_KAFKA_BOOTSTRAP": bootstrap}
    ).kafka


def plaintext_env(env: Mapping[str, str]) -> dict[str, str] | None:
    """``env`` pointed at the local stack's unsafe plaintext listener, or None when it has none."""
    from certlife.services.infra.stack import StackSettings

    port = StackSettings.from_env().plaintext_port
    if not port:
        return None
    return {**env, "CERTLIFE_KAFKA_SECURITY": "plaintext", "CERTLIFE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}


def profile(pid: int | None, name: str) -> subprocess.Popen[bytes] | None:
    """Attach ``py-spy record`` to process ``pid`` (and its children) when ``CERTLIFE_BENCH_PROFILE``
    names a folder.

    The profile (py-spy's raw collapsed stacks) goes to ``FOLDER/NAME.txt`` when
    the process exits; summarise it with ``python -m bench.profile FOLDER/NAME.txt``.
    Returns the py-spy process (wait for it after the profiled one ends), or None.
    """
    folder = os.environ.get("CERTLIFE_BENCH_PROFILE")
    if not folder or pid is None:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    out = Path(folder) / f"{name}.txt"
    argv = [str(spy), "record", "--subprocesses", "--format", "raw", "--rate", "100", "-o", str(out)]
    return subprocess.Popen([*argv, "--pid", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def raw_sign_rate(size: int, seconds: float = 2.0) -> float:
    """Ed25519 signatures per second on one core (cryptography) for ``size``-byte messages."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    message, count = b"\x42" * size, 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(500):
            key.sign(message)
        count += 500
    return count / elapsed
