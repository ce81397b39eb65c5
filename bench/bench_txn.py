"""Back-to-back Kafka transactions: certlife's publisher setting against aiokafka's default.

``python -m bench.bench_txn [--transactions 60]`` runs one-message transactions
back to back (as the command service and the relay do under load) with
aiokafka's default retry after CONCURRENT_TRANSACTIONS (20 ms) and with
certlife's (``certlife.services.infra.transactions.CONCURRENT_TRANSACTIONS_RETRY``),
in the same run, and prints the median time per transaction of each. Then it
runs ``--published`` transactions as the services publish them
(``TransactionalPublisher``: ten messages over four partitions and a consumer
offset each), with certlife's producer retry backoff
(``transactions.RETRY_BACKOFF_MS``), with 10 ms (its earlier value) and with
aiokafka's default (100 ms), and prints the p50, p90 and p99 time per transaction of each: a Kafka 4 broker answers
a produce that arrives while the previous transaction's markers are still being
written with a retriable error, and the backoff sets how long that costs.
Last, the codecs of ``CERTLIFE_KAFKA_COMPRESSION`` on a batch of 1,000
certificate records (a relay batch), through aiokafka's own encoders (its
``lz4`` is level 9, LZ4 HC): nanoseconds per record and compressed size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.producer import sender as aiokafka_sender

from bench.common import Figure, endpoints, kafka_access, median, percentile, report
from certlife.services.infra import transactions
from certlife.services.infra.stack import provision_if_local
from certlife.services.infra.topics import TopicSpec, ensure_topics

#: aiokafka's ``retry_backoff_ms`` default.
AIOKAFKA_RETRY_BACKOFF_MS = 100
#: certlife's backoff before issue 12's last change (for comparison).
LONGER_RETRY_BACKOFF_MS = 10


async def per_transaction(bootstrap: str, topic: str, count: int, retry: float) -> float:
    """Median seconds per one-message transaction, back to back, with ``retry`` as the backoff."""
    access = kafka_access(bootstrap)
    aiokafka_sender.BACKOFF_OVERRIDE = retry
    producer = AIOKafkaProducer(
        **access.client_options(),
        transactional_id=f"{topic}-{retry}",
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
    )
    await producer.start()
    times = []
    try:
        for i in range(count):
            start = time.perf_counter()
            async with producer.transaction():
                await (await producer.send(topic, b"x" * 300, key=str(i).encode()))
            times.append(time.perf_counter() - start)
    finally:
        await producer.stop()
    return median(times[5:])  # the first ones include the coordinator lookup


async def run(bootstrap: str, topic: str, count: int) -> list[Figure]:
    """Both settings, alternated twice, on a fresh topic."""
    await ensure_topics(kafka_access(bootstrap), [TopicSpec(topic, partitions=4)])
    default = aiokafka_sender.BACKOFF_OVERRIDE
    ours, theirs = [], []
    for _ in range(2):
        theirs.append(await per_transaction(bootstrap, topic, count, default))
        ours.append(
            await per_transaction(bootstrap, topic, count, transactions.CONCURRENT_TRANSACTIONS_RETRY)
        )
    aiokafka_sender.BACKOFF_OVERRIDE = default
    # As rates (transactions/s), so that the ratio reads "times faster".
    return [
        Figure(
            "back-to-back txn/s, certlife's retry",
            1 / median(ours),
            "txn/s",
            f"aiokafka default ({default * 1000:.0f} ms retry)",
            1 / median(theirs),
        )
    ]


async def published(bootstrap: str, topic: str, count: int, backoff_ms: int) -> list[float]:
    """Seconds per transaction of ``TransactionalPublisher`` with ``backoff_ms`` as its retry backoff."""
    access = kafka_access(bootstrap)
    publisher = transactions.TransactionalPublisher(
        f"{topic}-pub-{backoff_ms}",
        lambda **o: AIOKafkaProducer(**access.client_options(), **{**o, "retry_backoff_ms": backoff_ms}),
    )
    await publisher.start()
    times = []
    try:
        for i in range(count + 5):
            messages = [transactions.Outbound(topic, f"k{j}".encode(), b"x" * 300) for j in range(10)]
            offsets = {TopicPartition(topic, i % 4): i + 1}
            start = time.perf_counter()
            await publisher.publish(messages, offsets, f"{topic}.group")
            times.append(time.perf_counter() - start)
    finally:
        await publisher.stop()
    return times[5:]  # the first ones include the coordinator lookups


async def run_published(bootstrap: str, topic: str, count: int) -> dict[str, object]:
    """p50/p90/p99 per transaction with certlife's backoff, a longer one and aiokafka's, alternated twice."""
    ours = transactions.RETRY_BACKOFF_MS
    backoffs = (AIOKAFKA_RETRY_BACKOFF_MS, LONGER_RETRY_BACKOFF_MS, ours)
    times: dict[int, list[float]] = {b: [] for b in backoffs}
    for order in (backoffs, backoffs[::-1]):
        for backoff in order:
            times[backoff] += await published(bootstrap, topic, count, backoff)

    def shown(values: list[float]) -> str:
        slow = sum(t > 0.05 for t in values)
        p50, p90, p99 = (percentile(values, q) * 1000 for q in (0.5, 0.9, 0.99))
        return f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms, {slow} of {len(values)} over 50 ms"

    return {
        f"published transactions, certlife's retry backoff ({ours} ms)": shown(times[ours]),
        f"published transactions, retry backoff {LONGER_RETRY_BACKOFF_MS} ms": shown(
            times[LONGER_RETRY_BACKOFF_MS]
        ),
        f"published transactions, aiokafka's default ({AIOKAFKA_RETRY_BACKOFF_MS} ms)": shown(
            times[AIOKAFKA_RETRY_BACKOFF_MS]
        ),
    }


def codec_costs(records: int = 1000) -> tuple[list[Figure], dict[str, object]]:
    """zstd (the services' default) beside lz4 as aiokafka writes it: CPU per record and batch size."""
    from itertools import islice

    from aiokafka import codec

    from bench.bench_verify import export_dir
    from certlife.services.partner.export import read_log_lines

    lines = [raw + b"\n" for _, raw in islice(read_log_lines(export_dir(records, seed=1)), records)]
    batch = b"".join(lines)
    encoders = {"zstd": codec.zstd_encode, "lz4": codec.lz4_encode, "gzip": codec.gzip_encode}
    cost, size = {}, {}
    for name, encode in encoders.items():
        times = []
        for _ in range(7):
            start = time.perf_counter()
            out = encode(batch)
            times.append(time.perf_counter() - start)
        cost[name], size[name] = median(times) / records * 1e9, len(out) / len(batch)
    figures = [
        Figure("lz4 (aiokafka, level 9), ns per record", cost["lz4"], "ns", "zstd (default), ns per record",
               cost["zstd"]),
        Figure("gzip, ns per record", cost["gzip"], "ns", "zstd (default), ns per record", cost["zstd"]),
    ]  # fmt: skip
    shown = ", ".join(f"{name} {share:.3f}" for name, share in size.items())
    return figures, {f"compressed / raw bytes, a batch of {records:,} records ({len(batch):,} B)": shown}


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=60)
    parser.add_argument("--published", type=int, default=150, help="transactions per published run")
    args = parser.parse_args()
    bootstrap, _ = endpoints()
    topic = f"benchtxn{os.getpid()}"
    provision_if_local(bootstrap, topic + ".")
    figures = asyncio.run(run(bootstrap, topic, args.transactions))
    extra = asyncio.run(run_published(bootstrap, topic, args.published))
    report("back-to-back Kafka transactions (one message each), SASL_SSL", figures, extra, None)
    report("record batch compression (CERTLIFE_KAFKA_COMPRESSION)", *codec_costs(), None)


if __name__ == "__main__":
    main()
