"""Partner mirror: verified-and-applied records/s against a raw aiokafka consume of the same topic.

``python -m bench.bench_mirror --certificates 20000`` generates a fixtures
export, publishes it raw onto fresh log/checkpoint topics (not timed), then in
the same run times (1) a raw read_committed aiokafka consume of the log topic
from beginning to end and (2) ``certverify mirror --once`` work in-process:
every record verified (signature, index, chain, transition, Merkle root under
each checkpoint) and applied to PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aiokafka import TopicPartition

from bench.common import Figure, create_schema, endpoints, fresh_names, kafka_access, report
from certlife.projections.committed import committed_consumer
from certlife.services.demo.fixtures import generate
from certlife.services.partner.export import read_checkpoints, read_log_lines, read_trust
from certlife.services.partner.mirror import MirrorResult
from certlife.services.partner.mirror_cmd import open_mirror


async def _publish(bootstrap: str, prefix: str, export: Path) -> int:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**kafka_access(bootstrap).client_options())
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(prefix + "certlife.log.v1", 1, 1), NewTopic(prefix + "certlife.checkpoints.v1", 1, 1)]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        **kafka_access(bootstrap).client_options(), linger_ms=20, max_batch_size=1 << 20
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


async def _raw_consume(bootstrap: str, topic: str) -> float:
    consumer = committed_consumer(kafka_access(bootstrap).client_options(), auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        start = time.perf_counter()
        while await consumer.position(tp) < end:
            await consumer.getmany(tp, timeout_ms=500, max_records=5000)
        return time.perf_counter() - start
    finally:
        await consumer.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print each figure beside its baseline."""
    parser = argparse.ArgumentParser(prog="bench_mirror", description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    bootstrap, database = endpoints()
    prefix, schema = fresh_names("mirror")
    create_schema(database, schema)
    export = Path(tempfile.mkdtemp(prefix="certlife-bench-mirror-")) / "export"
    summary = generate(export, certificates=args.certificates, seed=5, checkpoint_every=1000)
    records = asyncio.run(_publish(bootstrap, prefix, export))
    raw_seconds = asyncio.run(_raw_consume(bootstrap, prefix + "certlife.log.v1"))
    trust = read_trust(export)

    async def mirror_once() -> MirrorResult:
        async with open_mirror(
            kafka_access(bootstrap), database, trust, schema=schema, topic_prefix=prefix
        ) as mirror:
            return await mirror.run(follow=False)

    start = time.perf_counter()
    result = asyncio.run(mirror_once())
    mirror_seconds = time.perf_counter() - start
    if result.failure is not None or result.applied != records:
        print(f"mirror did not apply the whole log: {result}")
        return 1
    report(
        f"partner mirror, {records:,} records ({summary.certificates:,} certificates)",
        [
            Figure(
                "mirror verified+applied records/s",
                records / mirror_seconds,
                "rec/s",
                "raw aiokafka consume records/s",
                records / raw_seconds,
            )
        ],
        {"checks": {str(k): v for k, v in result.checks.items()}},
        args.json,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
