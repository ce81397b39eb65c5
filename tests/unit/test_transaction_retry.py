"""The transactional publisher shortens aiokafka's retry after CONCURRENT_TRANSACTIONS.

aiokafka reads ``BACKOFF_OVERRIDE`` from its sender module each time the
coordinator answers a back-to-back transaction's AddPartitionsToTxn with
CONCURRENT_TRANSACTIONS; if an aiokafka upgrade renamed or stopped using it,
the setting would silently do nothing (``bench/bench_txn.py`` shows the cost).
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from aiokafka.errors import ConcurrentTransactions
from aiokafka.producer import sender as aiokafka_sender

from certlife.services.infra import transactions

pytestmark = pytest.mark.unit


class _Producer:
    """Stands in for AIOKafkaProducer: start() connects nothing."""

    async def start(self) -> None:
        return None


def test_starting_the_publisher_shortens_the_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiokafka_sender, "BACKOFF_OVERRIDE", 0.02)
    opened: list[dict[str, Any]] = []

    def open_producer(**options: Any) -> Any:
        opened.append(options)
        return _Producer()

    asyncio.run(transactions.TransactionalPublisher("t", open_producer).start())
    assert aiokafka_sender.BACKOFF_OVERRIDE == transactions.CONCURRENT_TRANSACTIONS_RETRY == 0.002
    assert opened[0]["transactional_id"] == "t" and opened[0]["linger_ms"] == 0


def test_the_publisher_retries_a_produce_after_5_ms_and_compresses_as_told() -> None:
    """A Kafka 4 broker answers a produce racing the previous transaction's markers with a
    retriable error: the producer's retry backoff (aiokafka's default 100 ms) is that stall."""
    opened: list[dict[str, Any]] = []

    def open_producer(**options: Any) -> Any:
        opened.append(options)
        return _Producer()

    for codec in ("lz4", None):
        asyncio.run(transactions.TransactionalPublisher("t", open_producer, compression=codec).start())
    assert [o["retry_backoff_ms"] for o in opened] == [transactions.RETRY_BACKOFF_MS] * 2 == [5, 5]
    assert [o["compression_type"] for o in opened] == ["lz4", None]


def test_aiokafka_still_reads_the_constant_when_a_transaction_is_concurrent() -> None:
    source = inspect.getsource(aiokafka_sender.AddPartitionsToTxnHandler.handle_response)
    assert "ConcurrentTransactions" in source and "BACKOFF_OVERRIDE" in source
    assert ConcurrentTransactions.__name__ == "ConcurrentTransactions"
