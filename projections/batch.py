"""Choose what of a consumed batch is new, given the stored position (pure, no IO).

Two guards make redelivery harmless: a message below the stored next offset of
its partition is dropped, and a log record at or below the last applied index
is dropped. A log record past the next expected index means records are
missing in between (the consumer is ahead of the stored position): ``LogGap``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from contracts.records import Record, parse_record
from projections.errors import LogGap
from projections.mapping import checkpoint_size
from projections.tracking import Position


@dataclass(frozen=True)
class Message:
    """One consumed Kafka message."""

    topic: str
    partition: int
    offset: int
    value: bytes


def select_new(
    messages: Iterable[Message], position: Position, log_topic: str, checkpoints_topic: str
) -> tuple[list[Record], Position]:
    """The new log records in index order and the position after them."""
    new = copy.deepcopy(position)
    records: list[Record] = []
    for msg in sorted(messages, key=lambda m: (m.topic, m.partition, m.offset)):
        key = (msg.topic, msg.partition)
        if msg.offset < new.offsets.get(key, 0):
            continue
        new.offsets[key] = msg.offset + 1
        if msg.topic == checkpoints_topic:
            size = checkpoint_size(msg.value)
            new.checkpoint_size = max(size, new.checkpoint_size or 0)
        elif msg.topic == log_topic:
            record = parse_record(msg.value)
            if record.index <= new.log_index:
                continue
            if record.index != new.log_index + 1:
                raise LogGap(f"expected log index {new.log_index + 1}, got {record.index}")
            records.append(record)
            new.log_index = record.index
    return records, new
