"""``KeyPartitioner``: Kafka's default key partitioning, with the hash computed in native code.

A keyed message goes to partition ``murmur2(key) & 0x7fffffff`` modulo the
topic's partition count -- what the Java client, librdkafka's ``murmur2_random``
and aiokafka's ``DefaultPartitioner`` all compute, so every producer sends a key
to the same partition. aiokafka computes the hash in pure Python: about 5 us per
key, a quarter of the command service's event-loop CPU when it publishes a batch's
outcomes (one per command, keyed by ``commandId``). ``murmurhash2`` (a Rust
extension) gives the same 32-bit value in 0.15 us; tests/unit/test_partitioner.py
holds the two equal. A message without a key goes to a random partition, as with aiokafka.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from murmurhash2 import murmurhash2

#: The seed of Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``).
KAFKA_MURMUR2_SEED = 0x9747B28C


def kafka_murmur2(key: bytes) -> int:
    """Kafka's murmur2 hash of ``key`` (unsigned 32 bits, before the partitioner's positive mask)."""
    return murmurhash2(key, KAFKA_MURMUR2_SEED)


class KeyPartitioner:
    """An aiokafka partitioner (``partitioner=`` of ``AIOKafkaProducer``) equal to its default one."""

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        """The partition for ``key``: its murmur2 hash over ``all_partitions`` (sorted by id);
        without a key, a random one of ``available`` (of ``all_partitions`` when none is)."""
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[(kafka_murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
