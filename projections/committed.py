"""The one read-committed Kafka consumer factory: how every certlife reader opens a topic.

The relay publishes records, events, checkpoints and its state in one Kafka
transaction, and the command service publishes outcomes with the consumed
offsets in one; an aborted transaction leaves messages that are not part of
the log (contracts/README.md, "Topics"). So every consumer of a certlife
topic reads with ``isolation.level=read_committed``, and none lets Kafka
commit offsets behind its back: a reader keeps its position itself
(PostgreSQL, relay state) or reads from a known offset.

It lives here, in the lowest layer that talks to Kafka (``contracts`` is
pure: no Kafka), so that projections and services build their consumers
with it; faststream subscribers, which build their own, pass
:data:`READ_COMMITTED`. Nothing else spells the isolation level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaConsumer

#: The isolation level of every certlife consumer (also faststream's ``isolation_level``).
READ_COMMITTED: Final = "read_committed"
#: Settings the factory fixes; a caller cannot override them.
_FIXED = frozenset({"isolation_level", "enable_auto_commit"})


class OpenConsumer(Protocol):
    """:func:`committed_consumer` with the endpoint bound: how a component that reads topics gets a consumer.

    The composition root binds the endpoint (``certlife.services.infra.connections.Kafka.consumer``)
    and hands this down; a component never names the bootstrap servers itself.
    """

    def __call__(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        """An unstarted read-committed consumer of ``topics`` (none: the caller assigns partitions)."""
        ...


def committed_consumer(client: Mapping[str, Any], *topics: str, **options: Any) -> AIOKafkaConsumer:
    """An (unstarted) consumer that sees committed messages only and never auto-commits.

    ``client`` holds the endpoint's client settings (``bootstrap_servers`` and
    its security: ``KafkaAccess.client_options()`` of ``certlife.services.infra``);
    ``topics`` are subscribed (none: the caller assigns partitions);
    ``options`` are further ``AIOKafkaConsumer`` settings (``auto_offset_reset``,
    ``group_id``, timeouts). Must be called inside a running event loop, as
    aiokafka requires.
    """
    fixed = _FIXED & (options.keys() | client.keys())
    if fixed:
        raise TypeError(f"committed_consumer fixes {', '.join(sorted(fixed))}")
    return AIOKafkaConsumer(
        *topics,
        **client,
        isolation_level=READ_COMMITTED,
        enable_auto_commit=False,
        **options,
    )
