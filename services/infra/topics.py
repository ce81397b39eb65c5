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
#: Most replicas a topic gets (a cluster of more brokers still keeps three copies).
MAX_REPLICAS = 3


def replicas_for(brokers: int) -> int:
    """The replication factor of a topic on a cluster of ``brokers``: min(3, brokers)."""
    return max(1, min(MAX_REPLICAS, brokers))


def min_insync(replicas: int) -> int:
    """``min.insync.replicas`` for ``replicas`` copies: all but one (RF 3: 2), at least 1.

    An acks=all write then survives the loss of any one broker, and the topic stays
    writable while one broker is down.
    """
    return max(1, replicas - 1)


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


def _new_topic(spec: TopicSpec, replicas: int) -> NewTopic:
    config = dict(spec.config or {})
    if replicas > 1:
        config.setdefault("min.insync.replicas", str(min_insync(replicas)))
    return NewTopic(spec.name, spec.partitions, replicas, topic_configs=config)


async def ensure_topics(access: KafkaAccess, specs: list[TopicSpec]) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are.

    A new topic gets ``replicas_for`` the brokers the cluster has now (1 on the single
    broker, 3 on a cluster of three or more) and, when replicated, ``min.insync.replicas``.

    A principal that may not create topics (every service principal: the
    operator creates them, ``certctl stack up`` / ``certctl principals``) only
    checks: a missing topic it may not create is a ``TopicAuthorizationFailedError``.
    """
    admin = AIOKafkaAdminClient(**access.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        absent = [s for s in specs if s.name not in existing]
        if absent:
            replicas = replicas_for(len((await admin.describe_cluster())["brokers"]))
            missing = [_new_topic(s, replicas) for s in absent]
            # Created concurrently by another process: fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()
