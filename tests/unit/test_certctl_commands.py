"""``certctl`` lifecycle commands without infrastructure: a fake sender stands in for Kafka."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from certlife.contracts.commands import IssueCertificate, parse_command
from certlife.services.cli import certctl, commands_cmd
from certlife.services.infra.settings import Settings

pytestmark = pytest.mark.unit


class FakeSender(commands_cmd.KafkaCommandSender):
    """Records what would be published and answers ``--wait`` with a canned outcome."""

    sent: ClassVar[list[tuple[bytes, bytes]]] = []
    outcome: ClassVar[dict[str, Any] | None] = None

    def send(self, key: bytes, value: bytes, command_id: str, wait: float | None) -> dict[str, Any] | None:
        FakeSender.sent.append((key, value))
        if wait is None or FakeSender.outcome is None:
            return None
        return {**FakeSender.outcome, "commandId": command_id}


@pytest.fixture(autouse=True)
def fake_sender(monkeypatch: pytest.MonkeyPatch) -> type[FakeSender]:
    FakeSender.sent = []
    FakeSender.outcome = None
    monkeypatch.setattr(commands_cmd, "KafkaCommandSender", FakeSender)
    monkeypatch.setenv("CERTLIFE_ISSUER", "cqc.example")
    return FakeSender


def run(*argv: str) -> int:
    try:
        return certctl.main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)


def sent_commands() -> list[dict[str, Any]]:
    return [json.loads(v) for _, v in FakeSender.sent]


CERT = {
    "number": "2025011234567890",
    "scheme": "CCC",
    "holder": "Ningde Lanshan Battery Technology Co., Ltd.",
    "manufacturer": "Ningde Lanshan Battery Technology Co., Ltd.",
    "factories": ["Yibin plant"],
    "product": "Lithium-ion traction battery pack",
    "models": ["LFP-PK-280"],
    "standards": ["GB 38031-2025"],
    "scope": "LFP traction battery pack, 280 Ah",
    "validFrom": "2026-01-01",
    "validUntil": "2031-01-01T00:00:00Z",
}


def test_issue_from_file_publishes_a_valid_command_keyed_by_number(tmp_path: Path) -> None:
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(CERT), encoding="utf-8")
    assert run("issue", "--file", str(path), "--command-id", "op-1") == 0
    [(key, value)] = FakeSender.sent
    command = parse_command(value)
    assert isinstance(command, IssueCertificate)
    assert key == command.number.encode() == b"2025011234567890"
    assert (command.command_id, command.issuer) == ("op-1", "cqc.example")
    assert json.loads(value)["validFrom"] == "2026-01-01T00:00:00Z"  # a bare date is midnight UTC


def test_each_lifecycle_command_builds_its_wire_form() -> None:
    n = "CQC25000001"
    assert run("suspend", n, "--reason", "audit failed", "--review-date", "2026-06-01") == 0
    assert run("reinstate", n) == 0
    assert run("renew", n, "--valid-from", "2030-01-01", "--valid-until", "2035-01-01T00:00:00+08:00") == 0
    assert run("amend", n, "--model", "A", "--model", "B", "--scope", "new scope") == 0
    assert run("revoke", n, "--reason", "fraud", "--issuer", "other.example") == 0
    assert run("withdraw", n) == 0
    assert run("expire-due", "--limit", "10") == 0
    sent = sent_commands()
    assert [c["type"] for c in sent] == [
        "suspend",
        "reinstate",
        "renew",
        "amend",
        "revoke",
        "withdraw",
        "expire-due",
    ]
    assert sent[0]["reviewDate"] == "2026-06-01"
    assert (sent[3]["models"], sent[3]["scope"]) == (["A", "B"], "new scope")
    assert sent[4]["issuer"] == "other.example"
    assert sent[6] == {"type": "expire-due", "commandId": sent[6]["commandId"], "limit": 10}
    assert len({c["commandId"] for c in sent}) == 7  # a fresh uuid4 each time
    assert [k for k, _ in FakeSender.sent][-1] == b"expire-due"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["suspend", "N", "--reason", "x", "--review-date", "soon"], "reviewDate"),
        (["renew", "N", "--valid-from", "2030-01-01", "--valid-until", "never"], "validUntil"),
        (["amend", "N"], "at least one of"),
        (["suspend", "N", "--reason", "x", "--effective-at", "2026-01-01T00:00:00"], "effectiveAt"),
        (["expire-due", "--limit", "0"], "limit"),
    ],
)
def test_invalid_commands_are_refused_locally(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert FakeSender.sent == []


def test_file_problems_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("issue", "--file", str(tmp_path / "missing.json")) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{oops", encoding="utf-8")
    assert run("issue", "--file", str(bad)) == 2
    assert "not valid JSON" in capsys.readouterr().err
    bad.write_text(json.dumps({**CERT, "type": "revoke"}), encoding="utf-8")
    assert run("issue", "--file", str(bad)) == 2
    assert FakeSender.sent == []


def test_wait_maps_outcomes_to_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    FakeSender.outcome = {"v": 1, "status": "accepted", "event": "revoked", "number": "N", "version": 3}
    assert run("revoke", "N", "--reason", "r", "--wait") == 0
    assert "accepted: revoked for N (version 3)" in capsys.readouterr().out
    FakeSender.outcome = {"v": 1, "status": "rejected", "code": "invalid-transition", "message": "final"}
    assert run("revoke", "N", "--reason", "r", "--wait", "--json") == 1
    assert json.loads(capsys.readouterr().out)["code"] == "invalid-transition"
    FakeSender.outcome = None  # nothing arrives in time
    assert run("revoke", "N", "--reason", "r", "--wait", "--timeout", "0.1") == 2
    assert "no outcome within" in capsys.readouterr().err


def test_unreachable_kafka_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.undo()  # the real sender, pointed at a closed port
    sender = commands_cmd.KafkaCommandSender(Settings.from_env({"CERTLIFE_KAFKA_BOOTSTRAP": "127.0.0.1:1"}))
    with pytest.raises(commands_cmd.CliError) as err:
        sender.send(b"k", b"{}", "cid", None)
    assert "127.0.0.1:1" in str(err.value) and "certctl stack up" in str(err.value)
