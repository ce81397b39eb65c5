"""The launcher's failure modes print one clear line and exit non-zero."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _certctl(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CERTLIFE_HOME"] = str(tmp_path / "home")
    return env


def test_port_taken_names_port_and_fix(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = _base_env(tmp_path) | {"CERTLIFE_KAFKA_PORT": str(port)}
        result = _certctl(["stack", "up"], env)
    assert result.returncode == 1
    assert f"port {port} is already in use" in result.stderr
    assert "CERTLIFE_KAFKA_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "home" / "stack" / "postgres.started").exists()


def test_java_missing_names_the_fix(tmp_path: Path) -> None:
    env = _base_env(tmp_path) | {"PATH": str(Path(sys.executable).parent)}
    result = _certctl(["stack", "up"], env)
    assert result.returncode == 1
    assert "Java not found on PATH" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_port_variable_is_one_line_not_a_traceback() -> None:
    import subprocess
    import sys

    from tests.procs import ROOT

    env = {**os.environ, "CERTLIFE_KAFKA_PORT": "99x"}
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "stack", "status"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "certctl: error: CERTLIFE_KAFKA_PORT must be a TCP port (1-65535), got '99x'"
    )
