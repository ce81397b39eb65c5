"""Create certlife's topics explicitly, with the settings the contract needs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from certlife.contracts import topics
from certlife.services.infra.kafka_access import KafkaAccess

#: Log topics keep everything forever and are never compacted.
KEEP_FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1"}


@dataclass(frozen=True)
class TopicSpec:
    """A topic name, its partition count and its configuration."""

    name: str
    partitions: int = 1
    config: dict[str, str] | None = None


def certlife_topics(command_partitions: int = 4, prefix: str = "") -> list[TopicSpec]:
    """Every topic certlife uses (``prefix`` isolates tests)."""
    return [
        TopicSpec(prefix + topics.COMMANDS, command_partitions),
        TopicSpec(prefix + topics.COMMAND_RESULTS, command_partitions),
        TopicSpec(prefix + topics.DEAD_LETTER, 1, KEEP_FOREVER),
        TopicSpec(prefix + topics.LOG, 1, KEEP_FOREVER),
        TopicSpec(prefix + topics.CHECKPOINTS, 1, KEEP_FOREVER),
        TopicSpec(prefix + topics.EVENTS, command_partitions, KEEP_FOREVER),
        TopicSpec(prefix + topics.RELAY_STATE, 1, {"cleanup.policy": "compact"}),
    ]


async def ensure_topics(access: KafkaAccess, specs: list[TopicSpec]) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are.

    A principal that may not create topics (every service principal: the
    operator creates them, ``certctl stack up`` / ``certctl principals``) only
    checks: a missing topic it may not create is a ``TopicAuthorizationFailedError``.
    """
    admin = AIOKafkaAdminClient(**access.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(s.name, s.partitions, 1, topic_configs=dict(s.config or {}))
            for s in specs
            if s.name not in existing
        ]
        if missing:
            # Created concurrently by another process: fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()
