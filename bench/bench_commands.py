"""Command-service throughput: batched transactions against one command per transaction.

``python -m bench.bench_commands --commands 5000`` runs ``certctl serve commands``
as a subprocess twice on the configured Kafka and PostgreSQL (the local stack by
default), each time with its own topic prefix and event-store schema: once with
the default batching and once with ``CERTLIFE_BATCH_MAX_RECORDS=1``. The same
scenario traffic (``certlife.services.demo.scenario``) is published and the clock runs from
the first publish to the last outcome read (read committed), so a figure is
end-to-end commands per second through Kafka, the event store and the
transactional outcome publish.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import endpoints
from certlife.contracts import topics
from certlife.projections.committed import committed_consumer
from certlife.services.demo.scenario import generate_commands
from certlife.services.infra.settings import Settings
from certlife.services.infra.stack import provision_if_local
from certlife.services.infra.topics import certlife_topics, ensure_topics

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Result:
    """One measured run."""

    label: str
    commands: int
    seconds: float

    @property
    def rate(self) -> float:
        """Commands per second, publish to published outcome."""
        return self.commands / self.seconds


def workload(n: int, seed: int) -> list[tuple[bytes, bytes]]:
    """``n`` scenario commands (issue-heavy lifecycle traffic, a few duplicates and conflicts)."""
    messages = generate_commands(
        n // 2 + 10, seed, issuer="bench.example", now=datetime.now(UTC), duplicates=0.05, conflicts=0.05
    )
    if len(messages) < n:
        raise SystemExit(f"scenario produced only {len(messages)} commands")
    return messages[:n]


async def _run_sql(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def measure(
    settings: Settings, label: str, messages: list[tuple[bytes, bytes]], extra: dict[str, str]
) -> Result:
    """Run one service subprocess over ``messages`` and time publish -> last outcome."""
    token = uuid.uuid4().hex[:8]
    prefix, schema = f"bench{token}.", f"bench_{token}"
    await _run_sql(settings.database_url, f'CREATE SCHEMA "{schema}"')
    await ensure_topics(settings.kafka, certlife_topics(settings.command_partitions, prefix))
    await asyncio.to_thread(provision_if_local, settings.kafka_bootstrap, prefix)  # the service's principal
    env = {
        **os.environ,
        "CERTLIFE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CERTLIFE_DATABASE_URL": settings.database_url,
        "CERTLIFE_DB_SCHEMA": schema,
        "CERTLIFE_TOPIC_PREFIX": prefix,
        **extra,
    }
    log = Path(tempfile.gettempdir()) / f"certlife-bench-{token}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "certlife.services.cli.certctl",
                "serve",
                "commands",
                "--log-level",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    consumer = committed_consumer(
        settings.kafka.client_options(), prefix + topics.COMMAND_RESULTS, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(**settings.kafka.client_options(), acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        # Warm-up: one command through the service, so start-up is not measured.
        await producer.send_and_wait(prefix + topics.COMMANDS, b'{"type":"expire-due","commandId":"warm-up"}')
        await _collect(consumer, 1, proc, log, timeout=120)
        started = time.perf_counter()
        for key, value in messages:
            await producer.send(prefix + topics.COMMANDS, value, key=key)
        await producer.flush()
        await _collect(consumer, len(messages), proc, log, timeout=3600)
        return Result(label, len(messages), time.perf_counter() - started)
    finally:
        proc.kill()
        proc.wait()
        await producer.stop()
        await consumer.stop()
        await _run_sql(settings.database_url, f'DROP SCHEMA "{schema}" CASCADE')
        admin = AIOKafkaAdminClient(**settings.kafka.client_options())
        await admin.start()
        try:
            await admin.delete_topics([s.name for s in certlife_topics(1, prefix)])
        finally:
            await admin.close()


async def _collect(
    consumer: AIOKafkaConsumer, count: int, proc: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < count:
        batches = await consumer.getmany(timeout_ms=200)
        seen += sum(len(r) for r in batches.values())
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SystemExit(f"service stopped or timed out after {seen}/{count} outcomes:\n{tail}")


async def main_async(n: int, seed: int, single_limit: int | None) -> None:
    """Run both measurements and print them with their ratio."""
    bootstrap, database = await asyncio.to_thread(endpoints)  # starts the local stack if needed
    settings = Settings.from_env(
        dict(os.environ, CERTLIFE_KAFKA_BOOTSTRAP=bootstrap, CERTLIFE_DATABASE_URL=database)
    )
    messages = workload(n, seed)
    batched = await measure(settings, "batched (CERTLIFE_BATCH_MAX_RECORDS default 2000)", messages, {})
    single_msgs = messages[: single_limit or n]
    single = await measure(
        settings,
        "one per transaction (CERTLIFE_BATCH_MAX_RECORDS=1)",
        single_msgs,
        {"CERTLIFE_BATCH_MAX_RECORDS": "1"},
    )
    for r in (batched, single):
        print(f"{r.label:<52} {r.commands:>6} commands in {r.seconds:7.2f} s = {r.rate:8.1f} commands/s")
    print(f"ratio batched / one per transaction: {batched.rate / single.rate:.1f}x")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.bench_commands``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_commands", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--commands", type=int, default=5000, help="commands per run (default 5000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--single-limit", type=int, help="cap the one-per-transaction run at this many commands"
    )
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.commands, args.seed, args.single_limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
