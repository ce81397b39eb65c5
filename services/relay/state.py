"""The relay's committed state, published in the same transaction as the records."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from certlife.contracts.merkle import MerkleFrontier


@dataclass
class RelayState:
    """Where the committed log ends and what the relay needs to continue it."""

    notification_id: int = 0
    frontier: MerkleFrontier = field(default_factory=MerkleFrontier)
    active_key_id: str | None = None
    checkpoint_size: int = 0
    checkpoint_at: float = 0.0

    @property
    def tree_size(self) -> int:
        """Records in the log (= next index)."""
        return self.frontier.size

    def to_bytes(self) -> bytes:
        """The JSON message stored on the relay-state topic."""
        return json.dumps(
            {
                "v": 1,
                "notificationId": self.notification_id,
                "treeSize": self.tree_size,
                "root": base64.b64encode(self.frontier.root()).decode(),
                "frontier": self.frontier.to_json(),
                "activeKeyId": self.active_key_id,
                "checkpointSize": self.checkpoint_size,
                "checkpointAt": self.checkpoint_at,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> RelayState:
        """Parse a relay-state message; the frontier must reproduce the stated root."""
        obj: dict[str, Any] = json.loads(data)
        frontier = MerkleFrontier.from_json(obj["frontier"])
        if frontier.size != obj["treeSize"] or base64.b64encode(frontier.root()).decode() != obj["root"]:
            raise ValueError("relay state message is inconsistent (frontier does not give its root)")
        return cls(
            notification_id=int(obj["notificationId"]),
            frontier=frontier,
            active_key_id=obj.get("activeKeyId"),
            checkpoint_size=int(obj.get("checkpointSize", 0)),
            checkpoint_at=float(obj.get("checkpointAt", 0.0)),
        )

    def copy(self) -> RelayState:
        """An independent copy (the batch works on a copy until Kafka commits)."""
        return RelayState(
            self.notification_id,
            self.frontier.copy(),
            self.active_key_id,
            self.checkpoint_size,
            self.checkpoint_at,
        )
