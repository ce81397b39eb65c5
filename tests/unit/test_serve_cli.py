"""certctl with an unreachable database or broker: one line and exit 1, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(service: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``certctl serve SERVICE`` with extra environment; it must end by itself."""
    return subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", service],
        env={**os.environ, "CERTLIFE_KEY_PASSPHRASE": "unused", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.parametrize("service", ["commands", "relay", "projections"])
def test_unreachable_database_is_one_line(service: str) -> None:
    url = f"postgresql://certlife:secret-pw@127.0.0.1:{free_port()}/certlife"
    result = serve(service, CERTLIFE_DATABASE_URL=url)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("certctl: error: cannot connect to PostgreSQL")
    assert "Traceback" not in result.stderr and "secret-pw" not in result.stderr


def test_projection_status_without_a_broker_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "projections", "status"],
        env={**os.environ, "CERTLIFE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 1
    assert (
        result.stderr.startswith("certctl: error: cannot reach Kafka")
        and len(result.stderr.splitlines()) == 1
    )
