"""Which errors mean "an endpoint went away", and the one line that says so."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import errors as kafka_errors

from certlife.services.infra.outages import outage_cause

pytestmark = pytest.mark.unit


def test_database_kafka_and_network_losses_are_named() -> None:
    closed = outage_cause(asyncpg.InterfaceError("connection is closed"))
    assert closed == "lost the PostgreSQL connection (InterfaceError: connection is closed)"
    shutdown = outage_cause(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert shutdown is not None and shutdown.startswith("lost the PostgreSQL connection (AdminShutdownError")
    kafka = outage_cause(kafka_errors.KafkaConnectionError("Connection at 127.0.0.1:9092 closed"))
    assert kafka is not None and kafka.startswith("lost Kafka (KafkaConnectionError")
    reset = outage_cause(ConnectionResetError(104, "Connection reset by peer"))
    assert reset is not None and reset.startswith("lost a connection (ConnectionResetError")


def test_a_wrapped_loss_is_found_and_a_bug_is_not_an_outage() -> None:
    try:
        try:
            raise asyncpg.InterfaceError("connection is closed")
        except asyncpg.InterfaceError as exc:
            raise RuntimeError("store failed") from exc
    except RuntimeError as wrapped:
        assert (
            outage_cause(wrapped) == "lost the PostgreSQL connection (InterfaceError: connection is closed)"
        )
    assert outage_cause(KeyError("x")) is None
    assert outage_cause(asyncpg.exceptions.UniqueViolationError("duplicate")) is None
