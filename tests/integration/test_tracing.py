"""A command's W3C ``traceparent`` header reaches its outcome, its log record and its domain event
through the real command service and relay (the event store keeps it with the event in between)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from certlife.contracts import topics
from certlife.services.infra import tracing
from tests.integration.test_relay import certctl, lifecycle_commands, stack_env
from tests.kafka import client
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration

GIVEN = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def outcomes(bootstrap: str, topic: str, count: int, timeout: float = 60) -> list[dict[str, bytes]]:
    """The headers of the first ``count`` messages of ``topic`` (read committed)."""
    return [headers for _, headers in await messages(bootstrap, topic, count, timeout)]


async def messages(
    bootstrap: str, topic: str, count: int, timeout: float = 60
) -> list[tuple[bytes, dict[str, bytes]]]:
    """The values and headers of the first ``count`` messages of ``topic`` (read committed)."""
    consumer = AIOKafkaConsumer(
        topic, **client(bootstrap), auto_offset_reset="earliest", isolation_level="read_committed"
    )
    await consumer.start()
    found: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        async with asyncio.timeout(timeout):
            while len(found) < count:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found += [(r.value or b"", dict(r.headers)) for r in records]
    finally:
        await consumer.stop()
    return found


async def test_the_outcome_record_and_event_carry_the_commands_trace_or_a_new_one(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    prefix = unique_name("trace") + "."
    env = stack_env(kafka_bootstrap, database_url, pg_schema, prefix, tmp_path / "keys")
    assert certctl(env, "keys", "generate").returncode == 0
    service = ServiceProcess("commands", env, tmp_path).start()
    relay = ServiceProcess("relay", env, tmp_path).start()
    try:
        service.wait_for_log("metrics on http://", 60)
        relay.wait_for_log("relay active", 60)
        issue = lifecycle_commands(0, 2)[0]
        producer = AIOKafkaProducer(**client(kafka_bootstrap))
        await producer.start()
        try:
            topic = prefix + topics.COMMANDS
            await producer.send_and_wait(topic, issue[0], key=b"RT-00000", headers=[("traceparent", GIVEN)])
            await producer.send_and_wait(topic, issue[1], key=b"RT-00001")
        finally:
            await producer.stop()
        found = await outcomes(kafka_bootstrap, prefix + topics.COMMAND_RESULTS, 2)
        records = await messages(kafka_bootstrap, prefix + topics.LOG, 2)
        events = await messages(kafka_bootstrap, prefix + topics.EVENTS, 2)
    finally:
        service.kill()
        relay.kill()
    by_id = {h["certlife-command-id"]: h["traceparent"] for h in found}
    first, second = (json.loads(c)["commandId"].encode() for c in issue)
    assert by_id[first] == GIVEN
    assert by_id[second] == tracing.new(second.decode()) != GIVEN  # a new trace, from its commandId
    # The relay read each event's trace from the event store and put it on its record and event.
    by_number = {json.loads(value)["certificate"]["number"]: h["traceparent"] for value, h in records}
    assert by_number == {"RT-00000": GIVEN, "RT-00001": by_id[second]}
    by_number = {json.loads(value)["certificate"]["number"]: h["traceparent"] for value, h in events}
    assert by_number == {"RT-00000": GIVEN, "RT-00001": by_id[second]}
    assert tracing.trace_id(by_number["RT-00000"]) == "4bf92f3577b34da6a3ce929d0e0e4736"
