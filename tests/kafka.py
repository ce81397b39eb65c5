"""Kafka access for tests: the local stack's admin principal (the launcher's super user).

Tests set up topics and read them back as admin; the services under test run
as whatever principal their environment names (``tests.procs.service_env``
gives them the admin unless a test provisions their own principals).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from certlife.services.infra.kafka_access import KafkaAccess
from certlife.services.infra.stack import StackSettings
from certlife.services.infra.stack.kafka import ADMIN, admin_access
from certlife.services.infra.stack.secrets import secret_path


def admin(bootstrap: str | None = None) -> KafkaAccess:
    """The admin's access (to ``bootstrap`` when given)."""
    access = admin_access(StackSettings.from_env())
    return replace(access, bootstrap=bootstrap) if bootstrap else access


def client(bootstrap: str | None = None) -> dict[str, Any]:
    """aiokafka settings of the admin's access."""
    return admin(bootstrap).client_options()


def admin_env() -> dict[str, str]:
    """``CERTLIFE_KAFKA_*`` naming the admin principal (its password stays in its 0600 file)."""
    stack = StackSettings.from_env()
    return {
        "CERTLIFE_KAFKA_USERNAME": ADMIN,
        "CERTLIFE_KAFKA_PASSWORD_FILE": str(secret_path(stack.state, "kafka", ADMIN)),
        "CERTLIFE_KAFKA_CA_FILE": str(stack.ca_file),
    }
