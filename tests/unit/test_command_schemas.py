"""Command parsing, outcome shapes, and drift of the checked-in JSON Schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certlife.contracts import topics
from certlife.contracts.commands import (
    COMMAND_TYPES,
    MAX_COMMAND_BYTES,
    Accepted,
    CommandError,
    ExpireDue,
    IssueCertificate,
    Rejected,
    outcome_from_wire,
    parse_command,
)
from certlife.contracts.errors import ContractError
from certlife.services.commands.gen_schemas import SCHEMA_DIR, render, schemas

pytestmark = pytest.mark.unit

ISSUE = {
    "type": "issue",
    "commandId": "cmd-1",
    "issuer": "CQC",
    "number": "2025010701000001",
    "scheme": "CCC",
    "holder": "Holder Co.",
    "manufacturer": "Maker Co.",
    "factories": ["Factory 1"],
    "product": "EV charger",
    "models": ["M1"],
    "standards": ["GB/T 18487.1-2023"],
    "scope": "AC chargers",
    "validFrom": "2025-01-01T00:00:00Z",
    "validUntil": "2030-01-01T00:00:00Z",
    "testReports": [{"lab": "CQC Lab", "reportNumber": "R-1"}],
}


def raw(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_checked_in_schemas_match_the_models() -> None:
    generated = schemas()
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == set(generated), "run: python -m certlife.services.commands.gen_schemas"
    for name, schema in generated.items():
        text = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert text == render(schema), (
            f"{name} drifted; run: python -m certlife.services.commands.gen_schemas"
        )


def test_command_schema_lists_every_type_by_wire_name() -> None:
    schema = json.loads(Path(SCHEMA_DIR / "command.v1.json").read_text(encoding="utf-8"))
    assert set(schema["discriminator"]["mapping"]) == set(COMMAND_TYPES)
    issue = schema["$defs"]["IssueCertificate"]
    assert {"commandId", "validFrom", "validUntil", "testReports"} <= set(issue["properties"])
    assert issue["additionalProperties"] is False


def test_parse_issue_command() -> None:
    command = parse_command(raw(ISSUE))
    assert isinstance(command, IssueCertificate)
    assert command.valid_until.year == 2030
    assert command.test_reports[0].report_number == "R-1"


def test_parse_expire_due_defaults_limit() -> None:
    command = parse_command(raw({"type": "expire-due", "commandId": "sweep-1"}))
    assert command == ExpireDue(command_id="sweep-1", limit=500)


@pytest.mark.parametrize(
    ("data", "code", "command_id"),
    [
        (b"{not json", "malformed-json", None),
        (b"\xff\xfe", "malformed-json", None),
        (b'{"commandId":"a","commandId":"b"}', "malformed-json", None),
        (raw({**ISSUE, "type": "destroy"}), "unknown-type", "cmd-1"),
        (raw({"commandId": "cmd-2"}), "unknown-type", "cmd-2"),
        (raw({**ISSUE, "models": []}), "schema-invalid", "cmd-1"),
        (raw({**ISSUE, "validFrom": "2025-01-01T00:00:00"}), "schema-invalid", "cmd-1"),
        (raw({**ISSUE, "valid_from": ISSUE["validFrom"]}), "schema-invalid", "cmd-1"),
        (raw({**ISSUE, "commandId": "x" * 129}), "schema-invalid", None),
        (raw([1, 2]), "schema-invalid", None),
        (raw({**ISSUE, "scope": "s" * MAX_COMMAND_BYTES}), "oversized", "cmd-1"),
        (b" " * (20 * MAX_COMMAND_BYTES), "oversized", None),
    ],
)
def test_parse_errors_have_codes_and_expose_command_id(
    data: bytes, code: str, command_id: str | None
) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(data)
    assert isinstance(info.value, ContractError)
    assert info.value.code == code
    assert info.value.command_id == command_id


def test_outcome_wire_shapes() -> None:
    accepted = Accepted(command_id="c", certificate_id="id", number="n", version=2, event="suspended")
    assert accepted.to_wire() == {
        "v": 1,
        "commandId": "c",
        "status": "accepted",
        "certificateId": "id",
        "number": "n",
        "version": 2,
        "event": "suspended",
    }
    rejected = Rejected(command_id="c", code="invalid-transition", message="m")
    assert rejected.to_wire() == {
        "v": 1,
        "commandId": "c",
        "status": "rejected",
        "code": "invalid-transition",
        "message": "m",
    }
    assert outcome_from_wire(rejected.to_wire()) == rejected
    assert outcome_from_wire(accepted.to_wire()) == accepted


def test_topic_names() -> None:
    assert (topics.COMMANDS, topics.COMMAND_RESULTS, topics.DEAD_LETTER) == (
        "certlife.commands.v1",
        "certlife.command-results.v1",
        "certlife.commands.dlq.v1",
    )
    assert (topics.LOG, topics.CHECKPOINTS, topics.EVENTS) == (
        "certlife.log.v1",
        "certlife.checkpoints.v1",
        "certlife.events.v1",
    )
