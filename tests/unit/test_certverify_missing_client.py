"""``certverify`` without an optional client: one line naming the extra to install, exit 2.

``certlife[verify]`` has no PostgreSQL client and the base install no Kafka
client (pyproject.toml); the commands that need one must say which extra
installs it instead of printing a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from certlife.services.demo.fixtures import generate
from certlife.services.partner.certverify import main

pytestmark = pytest.mark.unit


def _without(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``import module`` raise ModuleNotFoundError, as when it is not installed."""
    monkeypatch.setitem(sys.modules, module, None)


def test_mirror_status_without_asyncpg_names_the_mirror_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without(monkeypatch, "asyncpg")
    code = main(["status", "C-0001", "--database", "postgresql://127.0.0.1:1/none"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "certverify: error: status needs asyncpg, which is not installed: pip install 'certlife[mirror]'"
    ]


def test_mirror_without_asyncpg_names_the_mirror_extra_in_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without(monkeypatch, "asyncpg")
    argv = ["mirror", "--bootstrap", "127.0.0.1:1", "--database", "postgresql://127.0.0.1:1/none"]
    code = main([*argv, "--trust", "trust.json", "--json"])
    out, _ = capsys.readouterr()
    assert code == 2
    assert json.loads(out)["error"]["message"].endswith("pip install 'certlife[mirror]'")


def test_kafka_source_without_aiokafka_names_the_verify_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    generate(tmp_path / "export", certificates=1, seed=1, workers=0)  # a valid trust file
    _without(monkeypatch, "aiokafka")
    trust = str(tmp_path / "export" / "trust.json")
    code = main(["log", "kafka://127.0.0.1:1", "--trust", trust, "--jobs", "1"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "log needs aiokafka, which is not installed: pip install 'certlife[verify]'" in err


def test_a_missing_module_that_is_no_optional_client_still_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import certlife.services.partner.commands as commands

    def broken(args: object) -> dict[str, object]:
        import certlife_no_such_module  # noqa: F401

        return {}

    monkeypatch.setitem(commands.HANDLERS, "proof", broken)
    with pytest.raises(ModuleNotFoundError):
        main(["proof", "bundle.json", "--trust", "trust.json"])
