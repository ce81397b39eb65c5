"""Back-to-back Kafka transactions: certlife's publisher setting against aiokafka's default.

``python -m bench.bench_txn [--transactions 60]`` runs one-message transactions
back to back (as the command service and the relay do under load) with
aiokafka's default retry after CONCURRENT_TRANSACTIONS (20 ms) and with
certlife's (``certlife.services.infra.transactions.CONCURRENT_TRANSACTIONS_RETRY``),
in the same run, and prints the median time per transaction of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from aiokafka import AIOKafkaProducer
from aiokafka.producer import sender as aiokafka_sender

from bench.common import Figure, endpoints, kafka_access, median, report
from certlife.services.infra import transactions
from certlife.services.infra.stack import provision_if_local
from certlife.services.infra.topics import TopicSpec, ensure_topics


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


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=60)
    args = parser.parse_args()
    bootstrap, _ = endpoints()
    topic = f"benchtxn{os.getpid()}"
    provision_if_local(bootstrap, topic + ".")
    figures = asyncio.run(run(bootstrap, topic, args.transactions))
    report("back-to-back Kafka transactions (one message each), SASL_SSL", figures, {}, None)


if __name__ == "__main__":
    main()
