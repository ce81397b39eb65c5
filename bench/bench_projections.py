"""Read-model throughput: live consumption and a COPY rebuild against a raw Kafka read.

``python -m bench.bench_projections --events 20000`` writes a signed log of N
certificate records (issue, suspend, reinstate, amend, revoke rounds) and its
checkpoints onto fresh topics in Kafka transactions of 1,000 records (as the
relay does), then measures on the configured Kafka and PostgreSQL (the local
stack by default), each with its own topic prefix and schema:

* raw: an aiokafka read-committed consume of the log topic, offset 0 to end;
* live: ``certctl serve projections`` as a subprocess applying both
  projections (one transaction per batch; each table's rows COPYed into a
  staging table and merged in one statement), timed from its first applied
  batch to the last record (group join and start-up excluded; the first batch,
  up to ``CERTLIFE_PROJECTION_BATCH`` records, is not timed: ``./dev bench``
  writes 40,000 so that most of the log is); with ``--rounds R``
  R times, each on a fresh schema over the same log (the machine is noisy: the
  figure is the median, every round's shown);
* rebuild: ``certlife.projections.rebuild`` of each projection (COPY, then indexes);
* latency at low load: with the projection process idle, ``--probes`` more
  records published one per Kafka transaction, ``--probe-gap`` ms apart; each
  is timed from the start of its publish to both read models' positions
  reaching it (polled every 2 ms), so the median shows work, not poll waits.

Target (issue 12): live ≥ 10,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import endpoints, median, profile
from bench.cputime import cpu_snapshot, cpu_us_per_item, stack_holders
from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.records import RecordSigner, build_certificate_record, record_hash
from certlife.projections.committed import committed_consumer
from certlife.services.bootstrap import kafka_connector, postgres_connector, projection_config
from certlife.services.infra.settings import Settings
from certlife.services.infra.stack import provision_if_local
from certlife.services.infra.topics import certlife_topics, ensure_topics

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "bench.certlife.example/log"
#: Issue 12's target for live projection throughput (events/s, both projections).
TARGET_LIVE = 10_000
ROUNDS = (("issued", "valid"), ("suspended", "suspended"), ("reinstated", "valid"),
          ("amended", "valid"), ("revoked", "revoked"))  # fmt: skip


#: The time of the bench log's first record.
LOG_START = datetime(2026, 2, 1, tzinfo=UTC)


def build_log(events: int) -> tuple[list[bytes], list[tuple[int, bytes]]]:
    """``events`` signed records (5 per certificate, round by round) and a checkpoint per 1,000."""
    signer = RecordSigner(Ed25519PrivateKey.generate())
    note_signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    certs = max(1, events // len(ROUNDS))
    heads: dict[str, tuple[int, str]] = {}
    frontier = MerkleFrontier()
    records: list[bytes] = []
    notes: list[tuple[int, bytes]] = []
    while len(records) < events:
        event, status = ROUNDS[min(len(records) // certs, len(ROUNDS) - 1)]
        number = f"BN-{len(records) % certs:07d}"
        seq, prev = heads.get(number, (0, None))
        if event != "issued" and seq == 0:
            event, status = "issued", "valid"
        at = _at(len(records))
        raw = build_certificate_record(
            origin=ORIGIN, index=len(records), certificate=_cert(number, event), event=event, status=status,
            seq=seq + 1, prev=prev, reason="bench" if event in ("suspended", "revoked") else None,
            effective_at=at, recorded_at=at, signer=signer,
        )  # fmt: skip
        heads[number] = (seq + 1, record_hash(raw))
        records.append(raw)
        frontier.append(leaf_hash(raw))
        if len(records) % 1000 == 0 or len(records) == events:
            note = sign_checkpoint(Checkpoint(ORIGIN, len(records), frontier.root()), note_signer)
            notes.append((len(records), note.encode()))
    return records, notes


def _at(index: int) -> str:
    """The record's time: one second per 1,000 records (a log growing at 1,000 records/s), at
    the second precision of the relay's timestamps."""
    return (LOG_START + timedelta(seconds=index // 1000)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cert(number: str, event: str) -> dict[str, object]:
    return {
        "number": number, "scheme": "CCC", "holder": "Bench Holder Co.", "manufacturer": "Bench Mfg",
        "factories": ["Plant 1"], "product": "Charger",
        "models": ["M-1", "M-2"] if event in ("amended", "revoked") else ["M-1"],
        "standards": ["GB 4943.1-2022"], "scope": "bench", "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2029-01-01T00:00:00Z",
    }  # fmt: skip


def _producer(settings: Settings) -> AIOKafkaProducer:
    """The bench's transactional producer (like the relay's)."""
    return AIOKafkaProducer(
        **settings.kafka.client_options(), transactional_id=f"{settings.topic_prefix}bench",
        enable_idempotence=True, linger_ms=5, max_batch_size=1 << 20, max_request_size=8 << 20,
    )  # fmt: skip


async def publish(settings: Settings, records: list[bytes], notes: list[tuple[int, bytes]]) -> None:
    """Publish records and checkpoints in transactions of 1,000 records (like the relay)."""
    await ensure_topics(settings.kafka, certlife_topics(1, settings.topic_prefix))
    await asyncio.to_thread(provision_if_local, settings.kafka_bootstrap, settings.topic_prefix)
    producer = _producer(settings)
    await producer.start()
    try:
        by_size = dict(notes)
        for start in range(0, len(records), 1000):
            async with producer.transaction():
                for i, raw in enumerate(records[start : start + 1000], start):
                    await producer.send(
                        settings.topic("certlife.log.v1"), raw, key=str(i).encode(), partition=0
                    )
                end = min(start + 1000, len(records))
                if end in by_size:
                    await producer.send(settings.topic("certlife.checkpoints.v1"), by_size[end], partition=0)
    finally:
        await producer.stop()


async def raw_consume(settings: Settings, events: int) -> float:
    """Seconds for a read-committed aiokafka consume of the whole log topic."""
    consumer = committed_consumer(settings.kafka.client_options())
    await consumer.start()
    try:
        tp = TopicPartition(settings.topic("certlife.log.v1"), 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        started, seen = time.perf_counter(), 0
        while seen < events:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=2000)
            seen += len(batch.get(tp, []))
        return time.perf_counter() - started
    finally:
        await consumer.stop()


@dataclass
class Live:
    """What the live run measured."""

    seconds: float
    records: int
    #: Publish → both read models, per probe record at low load (seconds).
    latencies: list[float]
    #: CPU microseconds per event over the timed window: the projection process, PostgreSQL, the broker.
    cpu_us: dict[str, int]


async def _applied(conn: asyncpg.Connection, s: str) -> int | None:
    """The lowest log index both live generations have applied (None before the tables exist)."""
    try:
        low = await conn.fetchval(
            f"SELECT min(s.log_index) FROM {s}.projection_state s JOIN {s}.projection_live l "
            "USING (name, generation)"
        )
    except asyncpg.UndefinedTableError:
        return None
    return None if low is None else int(low)


async def live(
    settings: Settings, env: dict[str, str], events: int, probes: list[bytes], gap: float, log_dir: Path
) -> Live:
    """Run the projection process: throughput over the published log, then latency of ``probes``
    (none: throughput only)."""
    s = f'"{settings.db_schema}"'
    log = open(log_dir / "certlife.projections.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "projections", "--log-level", "WARNING"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    spy = profile(proc.pid, "projections")  # CERTLIFE_BENCH_PROFILE=DIR: py-spy of the live run
    holders = await asyncio.to_thread(stack_holders, {"projections": proc.pid})
    conn = await asyncpg.connect(settings.database_url)
    first: tuple[float, int] | None = None
    cpu_first: dict[str, float] = {}
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"projection process exited; see {log_dir / 'certlife.projections.log'}")
            low = await _applied(conn, s)
            now = time.perf_counter()
            if low is not None and low >= 0 and first is None:
                first, cpu_first = (now, low + 1), cpu_snapshot(holders)
            if low is not None and low >= events - 1 and first is not None:
                seconds, records = now - first[0], events - first[1]
                cpu = cpu_us_per_item(cpu_first, cpu_snapshot(holders), records)
                break
            await asyncio.sleep(0.02)
        latencies = await _probe(settings, conn, s, events, probes, gap) if probes else []
        return Live(seconds, records, latencies, cpu)
    finally:
        proc.terminate()
        proc.wait(30)
        if spy is not None:
            spy.wait(30)
        log.close()
        await conn.close()


async def _probe(
    settings: Settings, conn: asyncpg.Connection, s: str, first: int, probes: list[bytes], gap: float
) -> list[float]:
    """Publish ``probes`` (log indexes from ``first``) one transaction each; time each to both read models."""
    producer = _producer(settings)
    await producer.start()
    latencies: list[float] = []
    try:
        for index, raw in enumerate(probes, first):
            await asyncio.sleep(gap)
            started = time.perf_counter()
            async with producer.transaction():
                await producer.send(
                    settings.topic("certlife.log.v1"), raw, key=str(index).encode(), partition=0
                )
            while ((await _applied(conn, s)) or 0) < index:
                if time.perf_counter() - started > 30:
                    raise SystemExit(f"probe record {index} not applied within 30 s")
                await asyncio.sleep(0.002)
            latencies.append(time.perf_counter() - started)
    finally:
        await producer.stop()
    return latencies


async def _schema_statement(settings: Settings, template: str) -> None:
    """Run ``template`` with the bench's quoted schema name as ``{s}``."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(template.format(s=f'"{settings.db_schema}"'))
    finally:
        await conn.close()


async def drop_schema(settings: Settings) -> None:
    """Remove the bench's schema."""
    await _schema_statement(settings, "DROP SCHEMA IF EXISTS {s} CASCADE")


async def create_schema(settings: Settings) -> None:
    """Create the bench's (empty) schema."""
    await _schema_statement(settings, "CREATE SCHEMA {s}")


async def live_rounds(
    settings: Settings, env: dict[str, str], events: int, rounds: int, probes: list[bytes], gap: float
) -> tuple[list[Live], Live]:
    """Live runs over the same log, each on a fresh schema (dropped after it, but for the last);
    the last one also times ``probes``. Returns every round and the last one."""
    runs: list[Live] = []
    for turn in range(rounds):
        last = turn == rounds - 1
        round_env = env if last else dict(env, CERTLIFE_DB_SCHEMA=f"{settings.db_schema}_r{turn}")
        round_settings = Settings.from_env(round_env)
        if not last:
            await create_schema(round_settings)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                measured = await live(
                    round_settings, round_env, events, probes if last else [], gap, Path(tmp)
                )
        finally:
            if not last:
                await drop_schema(round_settings)
        runs.append(measured)
    return runs, measured


async def main_async(events: int, probes: int, gap_ms: float, rounds: int = 1) -> None:
    """Run every measurement and print the figures."""
    from certlife.projections.rebuild import rebuild

    tag = uuid.uuid4().hex[:8]
    bootstrap, database = await asyncio.to_thread(endpoints)  # starts the local stack if needed
    env = dict(os.environ, CERTLIFE_TOPIC_PREFIX=f"bench{tag}.", CERTLIFE_DB_SCHEMA=f"bench_{tag}",
               CERTLIFE_ISSUER="bench.example", CERTLIFE_KAFKA_BOOTSTRAP=bootstrap,
               CERTLIFE_DATABASE_URL=database)  # fmt: skip
    settings = Settings.from_env(env)
    await create_schema(settings)
    try:
        t0 = time.perf_counter()
        records, notes = build_log(events + probes)
        records, tail = records[:events], records[events:]
        await publish(settings, records, [n for n in notes if n[0] <= events])
        print(
            f"log of {events} records + {len(notes)} checkpoints written in {time.perf_counter() - t0:.1f}s"
        )
        raw_s = await raw_consume(settings, events)
        runs, measured = await live_rounds(settings, env, events, rounds, tail, gap_ms / 1000)
        config = projection_config(settings)
        conn = await postgres_connector(settings).connect()
        try:
            open_consumer = kafka_connector(settings).consumer
            rebuilt = {
                name: await rebuild(config, name, conn, open_consumer) for name in ("certificates", "history")
            }
        finally:
            await conn.close()
    finally:
        await drop_schema(settings)
    rates = [run.records / run.seconds for run in runs]
    raw_rate, live_rate = events / raw_s, median(rates)
    live_s, live_n = measured.seconds, measured.records
    print(f"raw aiokafka consume        {raw_rate:>10,.0f} records/s  ({raw_s:.2f}s)")
    shown = (
        f"median of {len(rates)} rounds of {live_n} events: {', '.join(f'{r:,.0f}' for r in rates)}"
        if len(rates) > 1
        else f"{live_n} in {live_s:.2f}s"
    )
    print(
        f"live, both projections      {live_rate:>10,.0f} events/s   ({shown})  ratio to raw {live_rate / raw_rate:.3f}"
    )
    cpu = {name: round(median([run.cpu_us[name] for run in runs])) for name in measured.cpu_us}
    print(f"CPU us per event while live (median of the rounds): {cpu}")
    verdict = "met" if live_rate >= TARGET_LIVE else "NOT MET"
    print(f"target: live >= {TARGET_LIVE:,} events/s: {verdict} ({live_rate:,.0f} events/s)")
    if measured.latencies:
        ms = sorted(x * 1000 for x in measured.latencies)
        p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
        print(f"latency publish -> both read models at low load ({len(ms)} records, one per {gap_ms:g} ms): "
              f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")  # fmt: skip
    for name, r in rebuilt.items():
        rate = r.records / r.bulk_seconds
        print(f"rebuild {name:<13} COPY {rate:>10,.0f} events/s   ({r.records} in {r.bulk_seconds:.2f}s, "
              f"swap {r.swap_seconds:.3f}s)  ratio to raw {rate / raw_rate:.3f}, to live {rate / live_rate:.2f}")  # fmt: skip


def main() -> None:
    """Entry point: ``python -m bench.bench_projections --events N``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000, help="records in the log")
    parser.add_argument("--probes", type=int, default=50, help="records published one by one at low load")
    parser.add_argument("--probe-gap", type=float, default=50, help="ms between two probe records")
    parser.add_argument(
        "--rounds", type=int, default=1, help="live runs, each on a fresh schema; the figure is their median"
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    asyncio.run(main_async(args.events, args.probes, args.probe_gap, args.rounds))


if __name__ == "__main__":
    main()
