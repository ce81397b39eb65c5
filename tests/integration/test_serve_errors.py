"""``certctl serve`` with a reachable database but no broker: one line and exit 1."""

from __future__ import annotations

import pytest

from tests.unit.test_serve_cli import free_port, serve

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", ["commands", "relay", "projections"])
def test_unreachable_broker_is_one_line(service: str, database_url: str) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    result = serve(service, CERTLIFE_DATABASE_URL=database_url, CERTLIFE_KAFKA_BOOTSTRAP=bootstrap)
    assert result.returncode == 1
    assert result.stderr.strip() == result.stderr.strip().splitlines()[0]  # one line
    assert result.stderr.startswith(f"certctl: error: cannot reach Kafka at {bootstrap}")
