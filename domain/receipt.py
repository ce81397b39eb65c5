"""``CommandReceipt``: remembers the outcome of a command, for idempotency.

The receipt's id is derived from the command id, so saving a second receipt for
the same command conflicts in the event store; the application saves it in the
same ``save()`` as the events the command caused, so both commit or neither.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

#: Namespace of receipt ids (uuid5 over the command id).
RECEIPT_NAMESPACE = uuid5(NAMESPACE_URL, "https://certlife.example/ns/command-receipt")


class CommandReceipt(Aggregate):
    """The stored outcome (accepted or rejected) of one command."""

    class Event(Aggregate.Event):
        """Base event of receipts."""

    class CommandRecorded(Event, Aggregate.Created):
        """A command was handled; ``outcome`` is its wire outcome object and ``digest``
        the digest of the command's content (None in receipts written before digests)."""

        command_id: str
        outcome: dict[str, Any]
        digest: str | None = None

    def __init__(self, command_id: str, outcome: dict[str, Any], digest: str | None = None) -> None:
        """Initialise from ``CommandRecorded``."""
        self.command_id = command_id
        self.outcome = outcome
        self.digest = digest

    @classmethod
    def record(
        cls, command_id: str, outcome: dict[str, Any], now: datetime, digest: str | None = None
    ) -> CommandReceipt:
        """Create the receipt of ``command_id`` with its wire ``outcome`` and content ``digest``."""
        return cls._create(
            cls.CommandRecorded,
            id=cls.create_id(command_id),
            command_id=command_id,
            outcome=outcome,
            digest=digest,
            timestamp=now,
        )

    def conflicts_with(self, digest: str) -> bool:
        """True when this commandId was first used for a command with different content."""
        return self.digest is not None and self.digest != digest

    @staticmethod
    @lru_cache(maxsize=1 << 14)  # a batch asks for each of its ids several times
    def create_id(command_id: str) -> UUID:
        """Deterministic receipt id: uuid5 over the command id."""
        return uuid5(RECEIPT_NAMESPACE, command_id)
