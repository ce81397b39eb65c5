"""Partner mirror: verified-and-applied records/s against ``certverify log --signatures all`` on the same log.

``python -m bench.bench_mirror --certificates 20000`` generates a fixtures
export, publishes it raw onto fresh log/checkpoint topics (not timed), then
``--repeat`` times, alternating, measures (1) a raw read_committed aiokafka
consume of the log topic from beginning to end, (2) ``certverify log
--signatures all`` of the same log (the export directory, all cores, in a
fresh process) and (3) ``certverify mirror --once`` work in-process into a
fresh schema: every record verified (signature, index, chain, transition,
Merkle root under each checkpoint) and applied to PostgreSQL. It prints the
medians; the target is mirror / certverify >= 0.80 (issue 12). Beside the
wall-clock rates (which on a shared machine depend on what else runs) it
prints records per CPU second: for the mirror its process tree (parent and
workers) plus its PostgreSQL backend, for certverify its process tree; and
where the mirror's CPU goes per record (workers, parent, PostgreSQL).

It also measures what a mirror must spend per record at the least, each part
alone: certverify's CPU (the same verification), reading the log from Kafka
(the raw consume's CPU) and storing the log's rows as the mirror does, made
beforehand (its client's CPU and its PostgreSQL backend's, on a fresh schema).
It prints the best ratio that least cost allows: at certverify's own core use,
and with every core busy. Where that is below the target, no mirror built on
the same verification and tables reaches it on this machine.

The module imports only the standard library up front: the worker processes
of both measurements import this module as their ``__main__`` (multiprocessing
does), and neither ``certverify`` nor ``certverify mirror`` pays for importing
the benchmark's own code outside of it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cputime import tree_cpu_seconds

if TYPE_CHECKING:
    from certlife.services.partner.mirror import MirrorResult

#: The issue 12 target: mirror records/s over ``certverify log --signatures all`` records/s.
TARGET = 0.80


async def _publish(bootstrap: str, prefix: str, export: Path) -> int:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from bench.common import kafka_access
    from certlife.services.partner.export import read_checkpoints, read_log_lines

    admin = AIOKafkaAdminClient(**kafka_access(bootstrap).client_options())
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(prefix + "certlife.log.v1", 1, 1), NewTopic(prefix + "certlife.checkpoints.v1", 1, 1)]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        **kafka_access(bootstrap).client_options(), acks="all", linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    count = 0
    try:
        for _, value in read_log_lines(export):
            await producer.send(prefix + "certlife.log.v1", value, partition=0)
            count += 1
        for size, note in read_checkpoints(export):
            await producer.send(prefix + "certlife.checkpoints.v1", note.encode(), key=str(size).encode())
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def _raw_consume(bootstrap: str, topic: str) -> tuple[float, float]:
    """Seconds and this process's CPU seconds to read ``topic`` from beginning to end (read committed)."""
    from aiokafka import TopicPartition

    from bench.common import kafka_access
    from certlife.projections.committed import committed_consumer

    consumer = committed_consumer(kafka_access(bootstrap).client_options(), auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        start, cpu = time.perf_counter(), _own_cpu_seconds()
        while await consumer.position(tp) < end:
            await consumer.getmany(tp, timeout_ms=500, max_records=5000)
        return time.perf_counter() - start, _own_cpu_seconds() - cpu
    finally:
        await consumer.stop()


async def _store_alone(database: str, export: Path, schema: str) -> tuple[float, float, int]:
    """CPU seconds of this process and of its PostgreSQL backend to store the whole log's rows as the
    mirror does (one transaction per 1,000 records, as the fixture's checkpoints), and the record count.

    The rows are made beforehand (signatures not checked: that is certverify's part), so this is only
    what storing costs: handing the rows to PostgreSQL, and PostgreSQL's own work.
    """
    import asyncpg

    from certlife.contracts.verification import LogVerifier
    from certlife.projections.mirror_rows import RowBatch
    from certlife.projections.mirror_store import MirrorStore
    from certlife.services.partner.export import read_log_lines, read_trust
    from certlife.services.partner.mirror_work import prepare_chunk

    verifier = LogVerifier(read_trust(export))
    raws = [raw for _, raw in read_log_lines(export)]
    batches = []
    for first in range(0, len(raws), 1000):
        chunk = raws[first : first + 1000]
        outcomes = prepare_chunk((first, chunk, verifier.directory, False, verifier.origin)).outcomes
        rows = [(o, r) for o, r in zip(outcomes, chunk, strict=True) if isinstance(o, tuple)]
        batches.append((first + len(chunk), RowBatch([o for o, _ in rows], [r for _, r in rows])))
    conn = await asyncpg.connect(database)
    try:
        store = MirrorStore(conn, schema)
        await store.create(verifier.origin)
        backend = conn.get_server_pid()
        before, own = tree_cpu_seconds(backend), _own_cpu_seconds()
        for size, batch in batches:
            await store.apply(batch, size, bytes(32), None)
        return _own_cpu_seconds() - own, tree_cpu_seconds(backend) - before, len(raws)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print each figure beside its baseline."""
    from bench.bench_verify import verify_rate_isolated
    from bench.common import Figure, create_schema, endpoints, fresh_names, kafka_access, median, report
    from certlife.services.demo.fixtures import generate
    from certlife.services.partner.export import read_trust
    from certlife.services.partner.mirror import MirrorResult
    from certlife.services.partner.mirror_cmd import open_mirror
    from certlife.services.partner.parallel import default_jobs

    parser = argparse.ArgumentParser(prog="bench_mirror", description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=20_000)
    parser.add_argument(
        "--repeat", type=int, default=5, help="alternating runs of each measurement (medians)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    bootstrap, database = endpoints()
    prefix, schema = fresh_names("mirror")
    export = Path(tempfile.mkdtemp(prefix="certlife-bench-mirror-")) / "export"
    summary = generate(export, certificates=args.certificates, seed=5, checkpoint_every=1000)
    records = asyncio.run(_publish(bootstrap, prefix, export))
    trust = read_trust(export)
    jobs = default_jobs()

    async def mirror_once(schema: str) -> tuple[MirrorResult, float]:
        """The mirror's result and the CPU seconds of its PostgreSQL backend (0 when not on this machine)."""
        async with open_mirror(
            kafka_access(bootstrap), database, trust, schema=schema, topic_prefix=prefix
        ) as mirror:
            backend = mirror.conn.get_server_pid()
            before = tree_cpu_seconds(backend)
            result = await mirror.run(follow=False)
            return result, tree_cpu_seconds(backend) - before

    raw, raw_cpu, verify, mirror, verify_cpu, mirror_cpu = [], [], [], [], [], []
    stored: list[tuple[float, float]] = []  # the store alone, CPU us per record: client, PostgreSQL
    split: list[tuple[float, float, float]] = []  # mirror CPU s: workers, parent, PostgreSQL
    result = MirrorResult()
    for run in range(args.repeat):
        consumed, consumed_cpu = asyncio.run(_raw_consume(bootstrap, prefix + "certlife.log.v1"))
        raw.append(records / consumed)
        raw_cpu.append(1e6 * consumed_cpu / records)
        certverify = verify_rate_isolated(export, records, "all", jobs)
        if certverify.records != records:
            print(f"certverify verified {certverify.records} of {records} records")
            return 1
        verify.append(certverify.rate)
        verify_cpu.append(certverify.per_cpu)
        create_schema(database, f"{schema}_{run}")
        own, cpu, start = _own_cpu_seconds(), tree_cpu_seconds(), time.perf_counter()
        result, backend_cpu = asyncio.run(mirror_once(f"{schema}_{run}"))
        mirror.append(records / (time.perf_counter() - start))
        tree, own = tree_cpu_seconds() - cpu, _own_cpu_seconds() - own
        mirror_cpu.append(records / max(tree + backend_cpu, 1e-9))
        split.append((tree - own, own, backend_cpu))
        if result.failure is not None or result.applied != records:
            print(f"mirror did not apply the whole log: {result}")
            return 1
        create_schema(database, f"{schema}_store_{run}")
        client_s, backend_s, count = asyncio.run(_store_alone(database, export, f"{schema}_store_{run}"))
        stored.append((1e6 * client_s / count, 1e6 * backend_s / count))
    # Median CPU us per record: the mirror's workers, parent and PostgreSQL backend; certverify.
    workers_us, parent_us, pg_us = (1e6 * median([run[part] for run in split]) / records for part in range(3))
    verify_us = 1e6 / median(verify_cpu)
    consume_us = median(raw_cpu)
    store_client_us, store_pg_us = (median([run[part] for run in stored]) for part in range(2))
    floor_us = verify_us + consume_us + store_client_us + store_pg_us
    report(
        f"partner mirror, {records:,} records ({summary.certificates:,} certificates), "
        f"median of {args.repeat}, {jobs} cores",
        [
            Figure(
                "mirror verified+applied records/s",
                median(mirror),
                "rec/s",
                "certverify log --signatures all rec/s",
                median(verify),
                TARGET,
            ),
            Figure(
                "mirror verified+applied records/s",
                median(mirror),
                "rec/s",
                "raw aiokafka consume records/s",
                median(raw),
            ),
            Figure(
                "mirror records per CPU second (with PG)",
                median(mirror_cpu),
                "rec/cpu-s",
                "certverify records per CPU second",
                median(verify_cpu),
            ),
        ],
        {
            "runs (mirror / certverify / raw consume rec/s)": "; ".join(
                f"{m:,.0f} / {v:,.0f} / {r:,.0f}" for m, v, r in zip(mirror, verify, raw, strict=True)
            ),
            "mirror CPU per record, us (median): workers / parent / PostgreSQL backend; certverify": (
                f"{workers_us:.0f} / {parent_us:.0f} / {pg_us:.0f}; {verify_us:.0f}"
            ),
            "the least a mirror spends per record, us: certverify + reading Kafka + storing (client / "
            "PostgreSQL), each measured alone": (
                f"{verify_us:.0f} + {consume_us:.1f} + {store_client_us:.1f} / {store_pg_us:.1f} = {floor_us:.0f}"
            ),
            "best ratio a mirror can reach here, at that least cost: at certverify's own core use; "
            "with every core busy": (
                f"{verify_us / floor_us:.2f}; {_bound(jobs, floor_us, median(verify)):.2f}"
            ),
            "checks": {str(k): v for k, v in result.checks.items()},
        },
        args.json,
    )
    return 0


def _bound(cores: int, least_us: float, verify_rate: float) -> float:
    """The mirror / certverify ratio if the mirror kept ``cores`` busy and spent only ``least_us`` CPU
    per record (certverify's, plus reading Kafka and storing), against certverify's ``verify_rate``."""
    return cores * 1e6 / least_us / verify_rate


def _own_cpu_seconds() -> float:
    """User + system CPU seconds of this process alone (its threads, not its children)."""
    times = os.times()
    return times.user + times.system


if __name__ == "__main__":
    raise SystemExit(main())
