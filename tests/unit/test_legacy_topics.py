"""Event stores written before the ``certlife.*`` namespace stay readable (topics ``domain.x:C``)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from certlife.contracts.commands import parse_command
from certlife.domain.certificate import Certificate
from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.legacy import legacy_topic
from certlife.services.relay.records import CERTIFICATE_EVENT_TOPICS

pytestmark = pytest.mark.unit

COMMAND = {
    "type": "issue", "commandId": "legacy-1", "issuer": "cqc.example", "number": "L-1", "scheme": "CQC",
    "holder": "Acme", "manufacturer": "Acme", "factories": ["F"], "product": "P", "models": ["M"],
    "standards": ["S"], "scope": "s", "validFrom": "2030-01-01T00:00:00Z", "validUntil": "2033-01-01T00:00:00Z",
}  # fmt: skip


def test_events_stored_under_pre_namespace_topics_load_as_todays_classes() -> None:
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        app.handle(parse_command(json.dumps(COMMAND).encode()), datetime(2030, 3, 1, tzinfo=UTC))
        cert_id = Certificate.create_id("cqc.example", "L-1")
        stored = app.recorder.select_events(cert_id)
        assert stored and stored[0].topic.startswith("certlife.domain.certificate:")
        old = dataclasses.replace(stored[0], topic=stored[0].topic.removeprefix("certlife."))
        assert old.topic == "domain.certificate:Certificate.CertificateIssued"
        event = app.mapper.to_domain_event(old)
        assert type(event) is Certificate.CertificateIssued
    finally:
        app.close()


def test_the_relay_selects_both_topic_forms() -> None:
    issued = Certificate.CertificateIssued
    assert legacy_topic(issued) in CERTIFICATE_EVENT_TOPICS
    assert f"certlife.{legacy_topic(issued)}" in CERTIFICATE_EVENT_TOPICS
