"""The application contract on PostgreSQL (eventsourcing.postgres)."""

from __future__ import annotations

import pytest

from tests.unit.test_application import ApplicationContract

pytestmark = pytest.mark.integration


class TestApplicationPostgres(ApplicationContract):
    """Same behaviour as in memory, on the real event store (``pg_env`` from conftest)."""

    @pytest.fixture
    def env(self, pg_env: dict[str, str]) -> dict[str, str]:
        return {**pg_env, "PERSISTENCE_MODULE": "eventsourcing.postgres"}
