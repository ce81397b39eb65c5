"""``--witness-policy FILE``: one option and one reader shared by certverify's commands and ``mirror``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from certlife.services.partner.certverify import build_parser, main
from certlife.services.partner.policy_option import read_trust
from certlife.services.partner.sources import SourceError
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit

BAD_POLICY = "quorum nobody\n"


def _trust(tmp_path: Path) -> Path:
    path = tmp_path / "trust.json"
    path.write_bytes(LogBuilder().trust().to_bytes())
    return path


@pytest.mark.parametrize("command", ["log", "proof", "record", "status", "mirror"])
def test_every_command_has_the_same_witness_policy_option(command: str) -> None:
    argv = {
        "log": ["log", "SRC", "--trust", "T"],
        "proof": ["proof", "B", "--trust", "T"],
        "record": ["record", "R", "--trust", "T"],
        "status": ["status", "1", "SRC", "--trust", "T"],
        "mirror": ["mirror", "--database", "D", "--trust", "T"],
    }[command]
    args = build_parser().parse_args([*argv, "--witness-policy", "P"])
    assert args.witness_policy == "P"


def test_read_trust_applies_the_policy_file(tmp_path: Path) -> None:
    trust = _trust(tmp_path)
    policy = tmp_path / "policy.txt"
    policy.write_text("quorum none\n")
    plain = read_trust(argparse.Namespace(trust=str(trust)))
    assert plain.witness_policy is None
    assert read_trust(argparse.Namespace(trust=str(trust), witness_policy=str(policy))).witness_policy == (
        "quorum none\n"
    )
    policy.write_text(BAD_POLICY)
    with pytest.raises(SourceError, match=f"{policy}: malformed witness policy: line 1"):
        read_trust(argparse.Namespace(trust=str(trust), witness_policy=str(policy)))


def test_mirror_refuses_a_malformed_policy_before_any_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.txt"
    policy.write_text(BAD_POLICY)
    argv = ["mirror", "--database", "postgresql://127.0.0.1:1/none", "--trust", str(_trust(tmp_path))]
    code = main([*argv, "--bootstrap", "127.0.0.1:1", "--once", "--witness-policy", str(policy)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"{policy}: malformed witness policy: line 1" in err
