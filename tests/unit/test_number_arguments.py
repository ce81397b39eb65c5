"""A NUMBER argument holding a character the admission rule forbids is a usage error (exit 2, no traceback)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from certlife.services.cli import TOOL_MODULES
from tests.procs import ROOT

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "argv",
    [
        ["certctl", "bundle", "\udcff", "--export", "/nonexistent", "--out", "/tmp/x.json"],
        ["certctl", "show", "A\u202e-1"],
        ["certctl", "status", "CCC\x1b[2J"],
        ["certctl", "keys", "rotate", "--reason", "rotation\x1b[2J"],  # a reason that would reach the log
        ["certverify", "status", "\u0421\x07-1", "--trust", "t.json", "--database", "postgresql://x"],
    ],
)
def test_inadmissible_number_argument_is_one_line_exit_2(argv: list[str]) -> None:
    tool, *args = argv
    env_args = [a.encode("utf-8", "surrogateescape") for a in args]
    result = subprocess.run(
        [sys.executable.encode(), b"-m", TOOL_MODULES[tool].encode(), *env_args],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, err
    assert "Traceback" not in err
    assert "is not allowed" in err
    assert "\x1b" not in err  # escaped on the way to the terminal
