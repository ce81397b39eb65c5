"""W3C trace context: a command's ``traceparent`` goes on to its outcome and dead letter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry import trace

from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.batch import COMMAND_ID_HEADER, Inbound, process_batch
from certlife.services.infra import tracing
from tests.unit.test_command_batch import _issue

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
    by_command = {}
    for message in out:
        headers = dict(message.headers)
        by_command.setdefault(headers.get(COMMAND_ID_HEADER), []).append(
            (message.topic, headers["traceparent"])
        )
    assert by_command[b"c-1"] == [("results", GIVEN)]
    [(_, fresh)] = by_command[b"c-2"]
    assert valid(fresh) and fresh not in (GIVEN, other)
    assert sorted(by_command[b"c-3"]) == [("dlq", other), ("results", other)]
