"""A command's W3C ``traceparent`` header reaches its outcome, its log record and its domain event
through the real command service and relay (the event store keeps it with the event in between)."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from certlife.contracts import topics
from certlife.services.infra import tracing
from tests.integration.test_relay import certctl, lifecycle_commands, stack_env
from tests.kafka import client
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration

GIVEN = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
GIVEN_TRACE, GIVEN_PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


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


class Collector:
    """An OTLP/HTTP trace receiver on 127.0.0.1: keeps every span it is sent, with its service name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                collector.add(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()
                self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def add(self, request: Any) -> None:
        for resource in request.resource_spans:
            service = next(
                a.value.string_value for a in resource.resource.attributes if a.key == "service.name"
            )
            with self._lock:
                self.spans += [(service, span) for scope in resource.scope_spans for span in scope.spans]

    def of_trace(self, trace_hex: str) -> list[tuple[str, Any]]:
        with self._lock:
            return [(service, span) for service, span in self.spans if span.trace_id.hex() == trace_hex]


async def test_spans_of_one_command_reach_an_otlp_collector_from_every_service(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """With OTEL_TRACES_EXPORTER=otlp, the command service, relay and projections each export a span
    under the command's trace (the command's span a child of the caller's)."""
    collector = Collector()
    prefix = unique_name("otlp") + "."
    env = stack_env(
        kafka_bootstrap, database_url, pg_schema, prefix, tmp_path / "keys",
        OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="200",
    )  # fmt: skip
    assert certctl(env, "keys", "generate").returncode == 0
    started = [
        ServiceProcess("commands", env, tmp_path).start(),
        ServiceProcess("relay", env, tmp_path).start(),
        ServiceProcess("projections", env, tmp_path).start(),
    ]
    try:
        started[0].wait_for_log("metrics on http://", 60)
        started[1].wait_for_log("relay active", 60)
        issue = lifecycle_commands(0, 1)[0]
        producer = AIOKafkaProducer(**client(kafka_bootstrap))
        await producer.start()
        try:
            await producer.send_and_wait(
                prefix + topics.COMMANDS, issue[0], key=b"RT-00000", headers=[("traceparent", GIVEN)]
            )
        finally:
            await producer.stop()
        await outcomes(kafka_bootstrap, prefix + topics.COMMAND_RESULTS, 1)
        wanted = {"certlife-commands", "certlife-relay", "certlife-projections"}
        async with asyncio.timeout(60):
            while {s for s, _ in collector.of_trace(GIVEN_TRACE)} != wanted:
                await asyncio.sleep(0.2)
    finally:
        for process in started:
            process.kill()
        collector.server.shutdown()
    spans = {service: span for service, span in collector.of_trace(GIVEN_TRACE)}
    command = spans["certlife-commands"]
    assert command.name == "certlife.command"
    assert command.parent_span_id.hex() == GIVEN_PARENT  # a child of the caller's span
    attributes = {a.key: a.value.string_value for a in command.attributes}
    assert attributes["certlife.outcome"] == "accepted"
    assert attributes["certlife.command_id"] == json.loads(issue[0])["commandId"]
    assert spans["certlife-relay"].name == "certlife.relay.record"
    assert spans["certlife-projections"].name == "certlife.projections.write"
