"""``KeyPartitioner`` places every key where aiokafka's (and Kafka's) default partitioner does."""

from __future__ import annotations

import os
import uuid

from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from certlife.services.infra.partitioner import KeyPartitioner, kafka_murmur2

# Kafka's own test vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2).
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    bytes([ord("a"), ord("b"), ord("c")]): 479470107,
}


def _signed(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def test_kafka_s_murmur2_vectors() -> None:
    for key, expected in JAVA_VECTORS.items():
        assert _signed(kafka_murmur2(key)) == expected, key


@settings(max_examples=2000)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=200))
def test_the_same_partition_as_aiokafka_for_any_key(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert kafka_murmur2(key) & 0x7FFFFFFF == murmur2(key) & 0x7FFFFFFF
    assert KeyPartitioner()(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_command_ids_and_certificate_numbers_land_where_aiokafka_puts_them() -> None:
    keys = [str(uuid.uuid4()).encode() for _ in range(500)] + [f"CQC26{n:011d}".encode() for n in range(500)]
    keys += [os.urandom(n) for n in range(64)]
    partitions = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    ours, theirs = KeyPartitioner(), DefaultPartitioner()
    assert [ours(k, partitions, partitions) for k in keys] == [
        theirs(k, partitions, partitions) for k in keys
    ]


def test_a_message_without_a_key_goes_to_an_available_partition() -> None:
    chosen = {KeyPartitioner()(None, [0, 1, 2, 3], [2, 3]) for _ in range(200)}
    assert chosen == {2, 3}
    assert KeyPartitioner()(None, [5], []) == 5
