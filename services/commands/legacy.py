"""Event-store topics written before the ``certlife.*`` namespace (``domain.certificate:...``).

Event stores created before the rename hold events under topics such as
``domain.certificate:Certificate.CertificateIssued``. Registering those names
lets eventsourcing resolve them to today's classes, and the relay selects them
beside the new names, so an event store upgrades in place without a migration.
"""

from __future__ import annotations

from collections.abc import Iterator

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, register_topic

from certlife.domain.certificate import Certificate
from certlife.domain.expiry import ExpiryBucket, ExpirySchedule
from certlife.domain.receipt import CommandReceipt

#: What module names began with before the namespace.
OLD_PREFIX = "domain."
_NEW_PREFIX = "certlife.domain."
_AGGREGATES: tuple[type[Aggregate], ...] = (Certificate, CommandReceipt, ExpiryBucket, ExpirySchedule)


def legacy_topic(obj: type) -> str:
    """The pre-namespace topic of a domain class (``certlife.domain.x:C`` -> ``domain.x:C``)."""
    topic = get_topic(obj)
    if not topic.startswith(_NEW_PREFIX):
        raise ValueError(f"{topic} is not a certlife.domain topic")
    return OLD_PREFIX + topic[len(_NEW_PREFIX) :]


def _domain_classes() -> Iterator[type]:
    for aggregate in _AGGREGATES:
        yield aggregate
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, Aggregate.Event):
                yield value


def register_legacy_topics() -> None:
    """Let eventsourcing resolve every pre-namespace topic of the domain's aggregates and events."""
    for cls in _domain_classes():
        register_topic(legacy_topic(cls), cls)
