"""What the local stack knows of its PostgreSQL replica: a small JSON file in the stack's folder.

``certctl stack up --pg-replica`` (``stack/pgreplica.py``) writes
``$CERTLIFE_HOME/stack/postgres-replica.json`` once the replica streams;
``StackSettings.from_env`` reads it, so that every process of that home gets a
database URL listing both servers. ``certctl stack promote`` marks it promoted
(the old primary is fenced from then on). No secret is kept here.

This module imports nothing of the stack package (``stack/settings.py`` imports it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

#: The Debian cluster name of the default stack's primary (port 5432), as it always was.
DEFAULT_CLUSTER = "certlife"
#: The replica's ``application_name``, which ``synchronous_standby_names`` waits for.
STANDBY_NAME = "certlife_replica"
#: The role the replica streams WAL as (REPLICATION LOGIN, its own password).
REPLICATION_ROLE = "certlife_replication"


def primary_cluster(port: int) -> str:
    """The Debian cluster name of the stack's primary on ``port`` (5432 keeps ``certlife``)."""
    return DEFAULT_CLUSTER if port == 5432 else f"{DEFAULT_CLUSTER}-{port}"


def replica_cluster(port: int) -> str:
    """The Debian cluster name of the replica of the primary on ``port``."""
    return f"{primary_cluster(port)}-replica"


@dataclass(frozen=True)
class ReplicaState:
    """A replica the launcher created: where it runs and whether it was promoted."""

    version: str
    cluster: str
    port: int
    primary_cluster: str
    primary_port: int
    #: True once ``certctl stack promote`` made it the primary (the old primary stays stopped).
    promoted: bool = False


def state_file(shared_state: Path) -> Path:
    """Where the replica's state is kept (the single stack's folder, like PostgreSQL's marker)."""
    return shared_state / "postgres-replica.json"


def load(shared_state: Path) -> ReplicaState | None:
    """The replica's state, or None when this stack never created one (or the file is unreadable)."""
    try:
        data = json.loads(state_file(shared_state).read_text())
        return ReplicaState(**data)
    except (OSError, ValueError, TypeError):
        return None


def save(shared_state: Path, state: ReplicaState) -> None:
    """Write the replica's state (atomically: a reader sees the old or the new file)."""
    path = state_file(shared_state)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    part.write_text(json.dumps(asdict(state)) + "\n")
    part.replace(path)


def forget(shared_state: Path) -> None:
    """Remove the replica's state (the replica was dropped)."""
    state_file(shared_state).unlink(missing_ok=True)
