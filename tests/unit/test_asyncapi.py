"""The checked-in AsyncAPI document matches the command service the code wires."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certlife.contracts import topics
from certlife.services.commands import asyncapi

pytestmark = pytest.mark.unit


def test_checked_in_document_has_not_drifted() -> None:
    expected = asyncapi.render(asyncapi.build_document())
    assert asyncapi.ASYNCAPI_PATH.read_text(encoding="utf-8") == expected, (
        "contracts/asyncapi.json is out of date: run `python -m certlife.services.commands.asyncapi`"
    )


def test_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "asyncapi.json"
    stale.write_text('{"asyncapi": "3.0.0"}\n', encoding="utf-8")
    assert asyncapi.main(["--check", "--path", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert asyncapi.main(["--path", str(stale)]) == 0
    assert asyncapi.main(["--check", "--path", str(stale)]) == 0


def test_document_describes_the_three_command_topics_and_payloads() -> None:
    doc = json.loads(asyncapi.ASYNCAPI_PATH.read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {topics.COMMANDS, topics.COMMAND_RESULTS, topics.DEAD_LETTER}
    schemas = doc["components"]["schemas"]
    command = schemas["Command"]
    assert set(command["discriminator"]["mapping"]) == {
        "issue",
        "suspend",
        "reinstate",
        "renew",
        "amend",
        "revoke",
        "withdraw",
        "expire-due",
    }
    # every $ref resolves inside the document
    refs = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str):
                    refs.add(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    for ref in refs:
        target: object = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"dangling {ref}"
            target = target[part]
    receive = [m for n, m in doc["components"]["messages"].items() if n.startswith(topics.COMMANDS + ":")]
    assert [m["payload"] for m in receive] == [{"$ref": "#/components/schemas/Command"}]
