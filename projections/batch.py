"""Choose what of a consumed batch is new, given the stored position (pure, no IO).

Two guards make redelivery harmless: a message below the stored next offset of
its partition is dropped, and a log record at or below the last applied index
is dropped. A log record past the next expected index means records are
missing in between (the consumer is ahead of the stored position): ``LogGap``.

A log message that is not a record, and a certificate record whose content is
inadmissible, are parked (``certlife.projections.parking``) at their index instead of
stopping the read model: they count as consumed, so the position moves past
them. A message that does not parse takes the next expected index, unless a
readable ``index`` member says it repeats one already consumed. A checkpoint
note without a tree size is skipped with a warning.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from certlife.contracts.errors import ContractError
from certlife.contracts.records import Record, parse_record
from certlife.projections.errors import LogGap
from certlife.projections.mapping import checkpoint_size
from certlife.projections.parking import Parked, claimed_index, content_parked, unparsed_parked
from certlife.projections.tracking import Position

log = logging.getLogger("certlife.projections")


@dataclass(frozen=True)
class Message:
    """One consumed Kafka message."""

    topic: str
    partition: int
    offset: int
    value: bytes


def select_new(
    messages: Iterable[Message], position: Position, log_topic: str, checkpoints_topic: str
) -> tuple[list[Record], list[Parked], Position]:
    """The new records to apply and the new records to park, in index order, and the position after them."""
    new = copy.deepcopy(position)
    records: list[Record] = []
    parked: list[Parked] = []
    for msg in sorted(messages, key=lambda m: (m.topic, m.partition, m.offset)):
        key = (msg.topic, msg.partition)
        if msg.offset < new.offsets.get(key, 0):
            continue
        new.offsets[key] = msg.offset + 1
        if msg.topic == checkpoints_topic:
            try:
                size = checkpoint_size(msg.value)
            except ValueError as exc:
                log.warning("%s[%d] offset %d skipped: %s", msg.topic, msg.partition, msg.offset, exc)
                continue
            new.checkpoint_size = max(size, new.checkpoint_size or 0)
        elif msg.topic == log_topic:
            try:
                record = parse_record(msg.value)
            except ContractError as exc:
                claimed = claimed_index(msg.value)
                if claimed is not None and claimed <= new.log_index:
                    continue
                new.log_index += 1
                parked.append(unparsed_parked(msg.value, new.log_index, exc))
                continue
            if record.index <= new.log_index:
                continue
            if record.index != new.log_index + 1:
                raise LogGap(f"expected log index {new.log_index + 1}, got {record.index}")
            problem = content_parked(record)
            if problem is None:
                records.append(record)
            else:
                parked.append(problem)
            new.log_index = record.index
    return records, parked, new
