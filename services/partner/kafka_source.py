"""Read the public log topics from Kafka: committed messages, beginning to the end offsets at start.

``kafka://HOST:PORT[?prefix=P]`` reads ``P + certlife.log.v1`` and
``P + certlife.checkpoints.v1`` (``certlife.contracts.topics``) with isolation
``read_committed``, partition 0 (the contract gives both topics exactly one
partition). Checkpoints are read first, in full (a checkpoint's
message key, when decimal, is the size it claims); records then stream from a
background thread through a bounded queue, so verification starts before the
topic has been read to its end. A message arrives whole (the topic's
``max.message.bytes`` bounds it); a record message longer than
``MAX_RECORD_BYTES`` ends the stream and fails there
(:class:`certlife.services.partner.limits.RecordLimit`, applied by the caller).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from certlife.contracts import topics
from certlife.contracts.verification import CheckpointInput
from certlife.services.infra.kafka_access import KafkaAccess, KafkaAccessError, describe_kafka_failure
from certlife.services.infra.settings import partner_access
from certlife.services.partner.inputs import LogSource, SourceError

Message = tuple[int, bytes | None, bytes]
_START_TIMEOUT = 15.0
_STALL_TIMEOUT = 60.0
_DONE = object()
_DECIMAL = re.compile(rb"0|[1-9][0-9]{0,18}")
# aiokafka logs connection failures itself; certverify reports them in one line.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def parse_url(spec: str) -> tuple[str, str]:
    """Return ``(bootstrap, topic prefix)`` of a ``kafka://HOST:PORT[,HOST:PORT…][?prefix=P]`` URL
    (a cluster's bootstrap list, as ``certctl stack up --brokers 3`` prints it)."""
    parts = urlsplit(spec)
    servers = [_server(text) for text in parts.netloc.split(",")]
    if parts.scheme != "kafka" or None in servers or parts.path not in ("", "/"):
        raise SourceError(f"{spec}: expected kafka://HOST:PORT")
    prefix = parse_qs(parts.query).get("prefix", [""])[0]
    return ",".join(s for s in servers if s), prefix


def _server(text: str) -> str | None:
    """``HOST:PORT`` of one bootstrap address, None when it is not one."""
    try:
        parts = urlsplit(f"//{text}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return f"{parts.hostname}:{port}"


async def _start(access: KafkaAccess) -> Any:
    from aiokafka.errors import KafkaError

    from certlife.projections.committed import committed_consumer

    try:
        client = access.client_options()
    except KafkaAccessError as exc:  # no credentials, unreadable CA: an input error (exit 2)
        raise SourceError(str(exc)) from None
    consumer = committed_consumer(client, auto_offset_reset="earliest")
    try:
        await asyncio.wait_for(consumer.start(), _START_TIMEOUT)
    except (TimeoutError, KafkaError, OSError) as exc:
        await consumer.stop()
        raise SourceError(describe_kafka_failure(exc, access)) from None
    return consumer


async def _read_topic(access: KafkaAccess, topic: str, emit: Callable[[list[Message]], object]) -> None:
    """Pass every committed message of ``topic`` below the end offsets at start to ``emit``."""
    from aiokafka import TopicPartition
    from aiokafka.errors import KafkaError

    consumer = await _start(access)
    try:
        if topic not in await consumer.topics():
            raise SourceError(f"kafka://{access.bootstrap}: topic {topic} does not exist")
        tp = TopicPartition(topic, 0)  # the contract's log topics have exactly one partition
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
        while (await consumer.position(tp)) < end:
            got = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
            batch = [(m.offset, m.key, m.value or b"") for m in got.get(tp, []) if m.offset < end]
            if batch:
                emit(batch)
    except KafkaError as exc:
        raise SourceError(f"kafka://{access.bootstrap}: {exc}") from None
    finally:
        await consumer.stop()


async def _count(access: KafkaAccess, topic: str) -> int:
    """Messages below the end offsets (an upper bound: transaction markers take offsets too)."""
    from aiokafka import TopicPartition

    consumer = await _start(access)
    try:
        if topic not in await consumer.topics():
            return 0
        tp = TopicPartition(topic, 0)
        return (await consumer.end_offsets([tp]))[tp] - (await consumer.beginning_offsets([tp]))[tp]
    finally:
        await consumer.stop()


def _checkpoint(message: Message) -> CheckpointInput:
    _, key, value = message
    claimed = int(key) if key is not None and _DECIMAL.fullmatch(key) else None
    return claimed, value.decode("utf-8", errors="replace")


def _stream(access: KafkaAccess, topic: str) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, value)`` while a background thread reads the topic."""
    batches: queue.Queue[object] = queue.Queue(maxsize=16)

    def produce() -> None:
        try:
            asyncio.run(_read_topic(access, topic, batches.put))
            batches.put(_DONE)
        except BaseException as exc:  # handed over to the consuming thread
            batches.put(exc)

    threading.Thread(target=produce, name="certverify-kafka", daemon=True).start()
    while True:
        try:
            item = batches.get(timeout=_STALL_TIMEOUT)
        except queue.Empty:
            raise SourceError(
                f"kafka://{access.bootstrap}: no data from {topic} for {_STALL_TIMEOUT:.0f}s"
            ) from None
        if item is _DONE:
            return
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, list)
        for offset, _, value in item:
            yield offset, value


def open_kafka(spec: str, access: KafkaAccess | None = None) -> LogSource:
    """Open the log topics of ``spec``: checkpoints now, records as a stream.

    ``access`` gives the credentials (None: ``CERTLIFE_KAFKA_*`` from the
    environment, as a partner kit's ``kafka.env`` sets them), for the host of ``spec``.
    """
    bootstrap, prefix = parse_url(spec)
    access = replace(access or partner_access(), bootstrap=bootstrap)
    found: list[Message] = []
    asyncio.run(_read_topic(access, prefix + topics.CHECKPOINTS, found.extend))
    total = asyncio.run(_count(access, prefix + topics.LOG))
    records = _stream(access, prefix + topics.LOG)
    return LogSource(spec, records, [_checkpoint(m) for m in found], total, "rec")
