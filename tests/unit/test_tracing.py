"""W3C trace context: a command's ``traceparent`` goes on to its outcome and dead letter, is stored with
its events (which the relay publishes with it), and the projections read it back."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry import trace

from certlife.contracts.commands import Command, parse_command
from certlife.contracts.records import RecordSigner
from certlife.domain.certificate import Certificate
from certlife.projections.consumer import _messages, log_traces, parse_records
from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.batch import COMMAND_ID_HEADER, Inbound, process_batch
from certlife.services.infra import tracing
from certlife.services.relay.records import CERTIFICATE_EVENT_TOPICS, EventSource, build_records
from certlife.services.relay.state import RelayState
from tests.unit.test_command_batch import ISSUER, _cmd, _issue

pytestmark = pytest.mark.unit

GIVEN = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def app() -> Iterator[CertificateApplication]:
    application = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield application
    application.close()


def valid(value: bytes) -> bool:
    """Whether OpenTelemetry's own propagator reads ``value`` as a valid span context."""
    return trace.get_current_span(tracing.context(value)).get_span_context().is_valid


def test_a_valid_traceparent_is_carried_and_anything_else_starts_a_new_trace() -> None:
    assert tracing.carried(GIVEN) == GIVEN and valid(GIVEN)
    assert tracing.trace_id(GIVEN) == "4bf92f3577b34da6a3ce929d0e0e4736"
    zeros = b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01"
    for bad in (None, b"", b"garbage", zeros, GIVEN.upper(), GIVEN + b"-x", b"ff" + GIVEN[2:]):
        new = tracing.carried(bad)
        assert new != bad and valid(new), bad
    assert tracing.new() != tracing.new()
    # Without a valid header, a command's new trace is derived from its commandId (a re-delivery's too).
    assert tracing.carried(None, "c-1") == tracing.new("c-1") != tracing.new("c-2")
    assert valid(tracing.new("c-1")) and tracing.carried(GIVEN, "c-1") == GIVEN


def test_the_header_is_found_among_kafka_headers() -> None:
    assert tracing.header([("x", b"1"), ("traceparent", GIVEN)]) == GIVEN
    assert tracing.header([("x", b"1")]) is None
    assert tracing.header(None) is None


def test_outcomes_and_dead_letters_carry_their_commands_trace(app: CertificateApplication) -> None:
    traced = json.dumps(_issue("c-1", "T-0001")).encode()
    untraced = json.dumps(_issue("c-2", "T-0002")).encode()
    malformed = b'{"type": "issue", "commandId": "c-3"}'  # schema-invalid: a dead letter and a rejection
    other = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    batch = [
        Inbound("commands", 0, 1, b"T-0001", traced, GIVEN),
        Inbound("commands", 0, 2, b"T-0002", untraced),
        Inbound("commands", 0, 3, b"x", malformed, other),
    ]
    out = process_batch(
        app, batch, datetime(2030, 3, 1, tzinfo=UTC), results_topic="results", dead_letter_topic="dlq"
    )
    by_command: dict[bytes | None, list[tuple[str, bytes]]] = {}
    for message in out:
        headers = dict(message.headers)
        by_command.setdefault(headers.get(COMMAND_ID_HEADER), []).append(
            (message.topic, headers["traceparent"])
        )
    assert by_command[b"c-1"] == [("results", GIVEN)]
    [(_, fresh)] = by_command[b"c-2"]
    assert valid(fresh) and fresh not in (GIVEN, other) and fresh == tracing.new("c-2")
    assert sorted(by_command[b"c-3"]) == [("dlq", other), ("results", other)]


OTHER = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
NOW = datetime(2030, 3, 1, tzinfo=UTC)


def _run(app: CertificateApplication, *commands: tuple[dict[str, Any], bytes | None]) -> None:
    batch = [Inbound("commands", 0, i, None, json.dumps(c).encode(), t) for i, (c, t) in enumerate(commands)]
    process_batch(app, batch, NOW, results_topic="results", dead_letter_topic="dlq")


def _stored(app: CertificateApplication, number: str) -> list[dict[str, Any]]:
    """The stored state (decoded JSON) of a certificate's events, as the event store holds it."""
    stored = app.recorder.select_events(Certificate.create_id(ISSUER, number))
    return [orjson.loads(s.state) for s in stored]


def _sources(app: CertificateApplication) -> list[EventSource]:
    """What the relay reads: the certificate events of the notification log, as stored."""
    found = app.recorder.select_notifications(1, 100, topics=CERTIFICATE_EVENT_TOPICS)
    return [EventSource.of(app.mapper.to_domain_event(n)) for n in found]  # type: ignore[arg-type]


def test_each_commands_trace_is_stored_with_the_certificate_events_it_causes(
    app: CertificateApplication,
) -> None:
    # In one batch: two issues sharing the expiry index, and a change of the first certificate.
    suspend = _cmd("suspend", "c-3", "T-0001", reason="audit")
    _run(app, (_issue("c-1", "T-0001"), GIVEN), (_issue("c-2", "T-0002"), OTHER), (suspend, OTHER))
    _run(app, (_cmd("reinstate", "c-4", "T-0001"), None))
    derived = tracing.new("c-4").decode()  # no header: the trace made from its commandId
    assert [s["traceparent"] for s in _stored(app, "T-0001")] == [GIVEN.decode(), OTHER.decode(), derived]
    assert [s["traceparent"] for s in _stored(app, "T-0002")] == [OTHER.decode()]
    for stored in app.recorder.select_notifications(1, 100):  # receipts, expiry index: never published
        state = orjson.loads(stored.state)
        assert ("traceparent" in state) == (":Certificate." in stored.topic), stored.topic
    assert app.get_certificate("T-0001", ISSUER).status.value == "valid"  # loads with the attribute


def test_the_trace_changes_no_decision_and_old_events_without_it_still_load() -> None:
    """An event store written before traces were stored (no attribute) is read and extended as before."""
    plain = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    traced = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        first = [_issue("c-1", "T-0001"), _issue("c-2", "T-0002")]
        outcomes = [plain.handle_batch([_parse(c) for c in first], NOW)]  # no traces: old-style events
        outcomes.append(traced.handle_batch([_parse(c) for c in first], NOW, [GIVEN.decode(), None]))
        assert outcomes[0] == outcomes[1]
        old = _stored(plain, "T-0001")
        assert "traceparent" not in old[0]
        new = _stored(traced, "T-0001")
        assert new[0].pop("traceparent") == GIVEN.decode() and new == old  # same state otherwise
        assert _stored(traced, "T-0002")[0]["traceparent"] is None  # marked: not a later command's
        # Old events replay (cached aggregate and store), a traced command extends them.
        suspend = _parse(_cmd("suspend", "c-3", "T-0001", reason="audit"))
        assert plain.handle_batch([suspend], NOW, [OTHER.decode()])[0].status == "accepted"
        # Replayed from the store (old event, then a traced one), not from the cache.
        assert plain.get_certificate("T-0001", ISSUER).status.value == "suspended"
        assert [vars(e).get("traceparent") for e in plain.history("T-0001", ISSUER)] == [None, OTHER.decode()]
        sources = _sources(plain)
        assert [s.traceparent for s in sources] == [None, None, OTHER]
    finally:
        plain.close()
        traced.close()


def _parse(command: dict[str, Any]) -> Command:
    return parse_command(json.dumps(command).encode())


def test_the_relay_puts_the_stored_trace_on_the_record_and_the_domain_event(
    app: CertificateApplication,
) -> None:
    _run(app, (_issue("c-1", "T-0001"), GIVEN), (_issue("c-2", "T-0002"), None))
    sources = _sources(app)
    assert sources[0].traceparent == GIVEN and tracing.carried(sources[1].traceparent) != GIVEN
    signer = RecordSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    built = build_records(sources, {}, RelayState(), signer, "certlife.example/log")
    assert built.traces == [s.traceparent for s in sources] and len(built.records) == 2
    assert [tracing.header(headers) for _, _, headers in built.events] == built.traces
    untraced = build_records([sources[0]._replace(traceparent=None)], {}, RelayState(), signer, "o")
    assert untraced.traces == [None] and tracing.header(untraced.events[0][2]) is None


def test_the_projections_read_each_records_trace_for_the_read_model_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def record(offset: int, headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("log", 0, offset, 0, 0, None, b"{}", None, 0, 2, headers)

    batch = (
        record(7, [("traceparent", GIVEN)]),
        record(8, [("x", b"1")]),  # a record published before traces: none
        record(9, [("traceparent", OTHER)]),
        record(10, [("traceparent", GIVEN)]),
        record(11, [("traceparent", b"00-not-a-trace")]),
    )
    messages = _messages(asyncio.run(parse_records(batch)))
    assert [m.traceparent for m in messages] == [GIVEN, None, OTHER, GIVEN, b"00-not-a-trace"]
    with caplog.at_level(logging.INFO, "certlife.projections"):
        assert log_traces(messages) == []  # nothing read unless DEBUG is on
    with caplog.at_level(logging.DEBUG, "certlife.projections"):
        ids = log_traces(messages)
    assert ids == [tracing.trace_id(GIVEN), tracing.trace_id(OTHER)]
    assert f"traces {ids[0]} {ids[1]}" in caplog.text and "5 messages" in caplog.text
