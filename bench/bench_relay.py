"""Relay throughput and memory against a raw aiokafka transactional publish.

``python -m bench.bench_relay --events 20000`` stores N lifecycle events in a
fresh event-store schema, then runs ``certctl serve relay`` as a separate
process and times it from its first published record to the N-th (build, sign,
hash, one Kafka transaction per batch). The baseline, in the same run,
publishes N messages of the same average size with a raw aiokafka
transactional producer in transactions of the same batch size. The relay's
resident memory is sampled as the log grows (its state is O(log n)).
``--rounds R`` repeats the relay run on a fresh schema, each beside one-core
signing measured just before and after it, and reports the medians (the
machine is shared and noisy) with every round's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer, TopicPartition

from bench.common import (
    Figure,
    create_schema,
    endpoints,
    fresh_names,
    kafka_access,
    median,
    plaintext_env,
    profile,
    raw_sign_rate,
    report,
    rss_mib,
)
from bench.cputime import cpu_snapshot, cpu_us_per_item, stack_holders
from certlife.contracts.commands import parse_command
from certlife.projections.committed import committed_consumer
from certlife.services.bootstrap import build_application
from certlife.services.infra.settings import Settings
from certlife.services.infra.stack import provision_if_local
from certlife.services.infra.topics import TopicSpec, ensure_topics

ROOT = Path(__file__).resolve().parent.parent
BATCH = 1000


def fill_event_store(settings: Settings, events: int) -> None:
    """Issue certificates and suspend/reinstate them until ``events`` events exist."""
    app = build_application(settings)
    certs = max(1, events // 3)
    issue = {
        "scheme": "CCC",
        "holder": "Volt Mobility Co., Ltd.",
        "manufacturer": "Volt Mobility",
        "factories": ["Hefei plant 1"],
        "product": "DC EV charger",
        "models": ["DC-120"],
        "standards": ["GB/T 18487.1-2023", "IEC 61851-1"],
        "scope": "DC chargers up to 120 kW",
        # Valid today and for three more years, whenever this runs.
        "validFrom": f"{datetime.now(UTC).year - 1}-01-01T00:00:00Z",
        "validUntil": f"{datetime.now(UTC).year + 3}-01-01T00:00:00Z",
    }
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("issue", issue),
        ("suspend", {"reason": "audit"}),
        ("reinstate", {}),
    ]
    made = 0
    for kind, extra in kinds:
        for start in range(0, certs, 500):
            raw = [
                parse_command(
                    __import__("json")
                    .dumps(
                        {
                            "type": kind,
                            "commandId": f"{kind}-{i}",
                            "issuer": settings.issuer,
                            "number": f"BR-{i:07d}",
                            **extra,
                        }
                    )
                    .encode()
                )
                for i in range(start, min(certs, start + 500))
                if made + (i - start) < events
            ]
            if raw:
                app.handle_batch(raw, datetime.now(UTC))
                made += len(raw)
    app.close()


async def watch_log(
    env: dict[str, str], topic: str, events: int, pid: int
) -> tuple[float, list[tuple[int, float]], dict[str, int]]:
    """Poll the log's committed end every 0.2 s through one consumer (one TLS + SCRAM login,
    not one per sample); seconds from the first record to the ``events``-th, RSS samples, and the
    CPU microseconds per record of the relay (with its builder process), the broker and PostgreSQL
    over the same span."""
    holders = stack_holders({"relay": pid})
    consumer = committed_consumer(kafka_access(env["CERTLIFE_KAFKA_BOOTSTRAP"], env).client_options())
    await consumer.start()
    tp = TopicPartition(topic, 0)
    samples: list[tuple[int, float]] = []
    first = last = 0.0
    cpu_first: dict[str, float] = {}
    cpu_last: dict[str, float] = {}
    first_done = 0
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                done = (await consumer.end_offsets([tp]))[tp]
            except Exception:  # the relay has not created the topic yet
                done = 0
            now = time.monotonic()
            if done > 0 and not first:
                first, first_done, cpu_first = now, done, cpu_snapshot(holders)
            if done:
                samples.append((done, rss_mib(pid)))
            # offsets include one transaction marker per batch
            if done >= events:
                last, cpu_last = now, cpu_snapshot(holders)
                break
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
    return (
        last - first,
        samples,
        cpu_us_per_item(cpu_first, cpu_last, events - first_done) if cpu_last else {},
    )


def run_relay(
    env: dict[str, str], topic: str, events: int
) -> tuple[float, list[tuple[int, float]], dict[str, int]]:
    """Seconds from the first to the last record, RSS samples (records, MiB) and CPU µs per record."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "certlife.services.cli.certctl",
            "serve",
            "relay",
            "--log-level",
            os.environ.get("BENCH_RELAY_LOG", "WARNING"),
        ],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    spy = profile(proc.pid, f"relay-{env.get('CERTLIFE_KAFKA_SECURITY', 'sasl_ssl')}")
    try:
        return asyncio.run(watch_log(env, topic, events, proc.pid))
    finally:
        proc.terminate()
        proc.wait(30)
        if spy is not None:
            spy.wait(30)


async def raw_baseline(env: dict[str, str], topic: str, events: int, size: int) -> float:
    """Seconds to publish ``events`` messages of ``size`` bytes transactionally (as the operator)."""
    access = kafka_access(env["CERTLIFE_KAFKA_BOOTSTRAP"], env)
    await ensure_topics(access, [TopicSpec(topic)])  # topics are never auto-created
    producer = AIOKafkaProducer(
        **access.client_options(),
        transactional_id=topic + "-raw",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=1 << 20,
        max_request_size=8 << 20,
    )
    await producer.start()
    payload = b"x" * size
    try:
        start = time.monotonic()
        for first in range(0, events, BATCH):
            async with producer.transaction():
                futures = [
                    await producer.send(topic, payload, key=str(i).encode(), partition=0)
                    for i in range(first, min(events, first + BATCH))
                ]
                for future in futures:
                    await future
        return time.monotonic() - start
    finally:
        await producer.stop()


def measure(
    base: dict[str, str], database: str, events: int
) -> tuple[float, float, list[tuple[int, float]], dict[str, int]]:
    """Relay rate, raw transactional publish rate and RSS samples on the Kafka listener of ``base``."""
    prefix, schema = fresh_names("relay")
    create_schema(database, schema)
    keys = tempfile.mkdtemp(prefix="certlife-bench-keys-")
    env = {
        **base,
        "CERTLIFE_DATABASE_URL": database,
        "CERTLIFE_DB_SCHEMA": schema,
        "CERTLIFE_TOPIC_PREFIX": prefix,
        "CERTLIFE_KEYS_DIR": keys,
        "CERTLIFE_KEY_PASSPHRASE": base.get("CERTLIFE_KEY_PASSPHRASE", "bench-only-passphrase"),
        "CERTLIFE_RELAY_BATCH": str(BATCH),
    }
    provision_if_local(base["CERTLIFE_KAFKA_BOOTSTRAP"], prefix)  # topics, the relay's own principal
    settings = Settings.from_env(env)
    print(f"storing {events:,} events ...", file=sys.stderr)
    fill_event_store(settings, events)
    subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "keys", "generate"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    topic = prefix + "certlife.log.v1"
    print(f"relaying ({env.get('CERTLIFE_KAFKA_SECURITY', 'sasl_ssl')}) ...", file=sys.stderr)
    seconds, samples, cpu = run_relay(env, topic, events)
    if seconds <= 0:
        sys.exit(
            f"bench_relay: all {events:,} records arrived within one 0.2 s sample: too few to time; use more --events"
        )
    raw_seconds = asyncio.run(raw_baseline(env, prefix + "raw", events, 700))
    return events / seconds, events / raw_seconds, samples, cpu


class Round(NamedTuple):
    """One relay run with its baselines: relay and raw publish rates, one-core signing (the mean of
    before and after the run), RSS samples and CPU us per record by process."""

    relay: float
    raw: float
    sign: float
    samples: list[tuple[int, float]]
    cpu: dict[str, int]


def _round(base: dict[str, str], database: str, events: int) -> Round:
    before = raw_sign_rate(size=700)  # a record's signing input
    relay_rate, raw_rate, samples, cpu = measure(base, database, events)
    return Round(relay_rate, raw_rate, (before + raw_sign_rate(size=700)) / 2, samples, cpu)


def main() -> None:
    """Run the benchmark and print figures with their baselines (secure, and plaintext when the stack has it)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="relay runs (each on a fresh schema) with their baselines; medians",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    bootstrap, database = endpoints()
    base = {**os.environ, "CERTLIFE_KAFKA_BOOTSTRAP": bootstrap}
    rounds = [_round(base, database, args.events) for _ in range(args.rounds)]
    relay_rate = median([r.relay for r in rounds])
    raw_rate = median([r.raw for r in rounds])
    sign_rate = median([r.sign for r in rounds])
    samples = rounds[-1].samples
    cpu = {key: round(median([r.cpu[key] for r in rounds])) for key in rounds[-1].cpu}
    figures = [
        Figure(
            "relay records/s (build+sign+hash+txn publish), SASL_SSL",
            relay_rate,
            "rec/s",
            "raw Ed25519 sign/s, one core",
            sign_rate,
            target=0.33,
        ),
        Figure(
            "relay records/s (build+sign+hash+txn publish), SASL_SSL",
            relay_rate,
            "rec/s",
            "raw aiokafka txn publish msgs/s, SASL_SSL",
            raw_rate,
        ),
    ]
    plain = plaintext_env(base)
    if plain is None:
        print(
            "no plaintext listener (CERTLIFE_KAFKA_PLAINTEXT_PORT): TLS + SASL cost not measured",
            file=sys.stderr,
        )
    else:
        plain_relay, plain_raw, _, _ = measure(plain, database, args.events)
        figures += [
            Figure(
                "relay records/s, SASL_SSL", relay_rate, "rec/s", "relay records/s, plaintext", plain_relay
            ),
            Figure(
                "raw txn publish msgs/s, SASL_SSL",
                raw_rate,
                "msgs/s",
                "raw txn publish msgs/s, plaintext",
                plain_raw,
            ),
        ]
    quarter = [samples[int(len(samples) * q)] for q in (0.25, 0.5, 0.75)] + [samples[-1]]
    report(
        f"relay, {args.events:,} events",
        figures,
        {
            "relay RSS MiB at (records, MiB)": [(n, round(m, 1)) for n, m in quarter],
            "CPU us per record (relay with its builder, broker, PostgreSQL), SASL_SSL": cpu,
            "one-core signing, us per signature": round(1e6 / sign_rate),
            "rounds (relay rec/s / raw one-core sign/s, before and after the run)": "; ".join(
                f"{r.relay:,.0f} / {r.sign:,.0f}" for r in rounds
            ),
            "per-round ratios to raw signing (the figures above are medians)": ", ".join(
                f"{r.relay / r.sign:.2f}" for r in rounds
            ),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
