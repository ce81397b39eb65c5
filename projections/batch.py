"""Choose what of a consumed batch is new, given the stored position (pure, no IO).

A batch is *read* once (:func:`read_messages`: every log message parsed and its
content checked, every checkpoint note sized) and then *selected* against the
position of each projection it feeds (:func:`select_read`), so several read
models fed by one consumer parse each record once.

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
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from certlife.contracts.errors import ContractError
from certlife.contracts.records import Record
from certlife.projections.audit import AUDIT
from certlife.projections.errors import LogGap
from certlife.projections.mapping import checkpoint_size
from certlife.projections.parking import Parked, claimed_index, content_parked, unparsed_parked
from certlife.projections.recognised import read_record
from certlife.projections.tracking import Position

log = logging.getLogger("certlife.projections")


class Message(NamedTuple):
    """One consumed Kafka message (a named tuple: built for every message of every batch, and
    a tuple is built several times faster than a frozen dataclass)."""

    topic: str
    partition: int
    offset: int
    value: bytes
    #: The message's W3C ``traceparent`` header (the trace of the command behind a record), if any.
    traceparent: bytes | None = None


class Read(NamedTuple):
    """One consumed message as read once for every projection (exactly one outcome is set).

    A log message is ``record`` (``problem`` when its content is inadmissible)
    or ``error`` (it does not parse; ``claimed`` is its readable index, if any);
    a checkpoint note is ``size`` (None when it has no tree size); a message of
    another topic has none.
    """

    msg: Message
    record: Record | None = None
    problem: Parked | None = None
    error: ContractError | None = None
    claimed: int | None = None
    size: int | None = None


def consumption_order(msg: Message) -> tuple[str, int, int]:
    """Sort key of messages: (topic, partition, offset)."""
    return msg.topic, msg.partition, msg.offset


def read_messages(messages: Iterable[Message], log_topic: str, checkpoints_topic: str) -> list[Read]:
    """Parse ``messages`` once, in :func:`consumption_order`."""
    out: list[Read] = []
    for msg in sorted(messages, key=consumption_order):
        if msg.topic == checkpoints_topic:
            try:
                out.append(Read(msg, size=checkpoint_size(msg.value)))
            except ValueError as exc:
                log.warning(
                    "%s[%d] offset %d skipped: %s", msg.topic, msg.partition, msg.offset, exc, extra=AUDIT
                )
                out.append(Read(msg))
        elif msg.topic == log_topic:
            try:
                record = read_record(msg.value)
            except ContractError as exc:
                out.append(Read(msg, error=exc, claimed=claimed_index(msg.value)))
                continue
            out.append(Read(msg, record=record, problem=content_parked(record)))
        else:
            out.append(Read(msg))
    return out


def select_read(reads: Sequence[Read], position: Position) -> tuple[list[Record], list[Parked], Position]:
    """The new records to apply and the new records to park, in index order, and the position after them.

    ``reads`` come from :func:`read_messages` (sorted); ``position`` is not changed.
    """
    new = copy.deepcopy(position)
    records: list[Record] = []
    parked: list[Parked] = []
    for read in reads:
        msg = read.msg
        key = (msg.topic, msg.partition)
        if msg.offset < new.offsets.get(key, 0):
            continue
        new.offsets[key] = msg.offset + 1
        if read.size is not None:
            new.checkpoint_size = max(read.size, new.checkpoint_size or 0)
        elif read.error is not None:
            if read.claimed is not None and read.claimed <= new.log_index:
                continue
            new.log_index += 1
            parked.append(unparsed_parked(msg.value, new.log_index, read.error))
        elif read.record is not None:
            record = read.record
            if record.index <= new.log_index:
                continue
            if record.index != new.log_index + 1:
                raise LogGap(f"expected log index {new.log_index + 1}, got {record.index}")
            if read.problem is None:
                records.append(record)
            else:
                parked.append(read.problem)
            new.log_index = record.index
    return records, parked, new


def select_new(
    messages: Iterable[Message], position: Position, log_topic: str, checkpoints_topic: str
) -> tuple[list[Record], list[Parked], Position]:
    """:func:`select_read` of :func:`read_messages` (one projection's batch)."""
    return select_read(read_messages(messages, log_topic, checkpoints_topic), position)
