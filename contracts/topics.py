"""Kafka topic names (versioned; a breaking wire change gets a new topic)."""

from __future__ import annotations

#: Lifecycle commands from internal systems (JSON, ``certlife.contracts.commands``).
COMMANDS = "certlife.commands.v1"
#: One outcome per command (JSON, ``certlife.contracts.commands.Outcome``), keyed by commandId.
COMMAND_RESULTS = "certlife.command-results.v1"
#: Commands that could not be handled at all (poison messages), with the reason.
DEAD_LETTER = "certlife.commands.dlq.v1"
#: The public, signed, append-only record log (one partition, index order).
LOG = "certlife.log.v1"
#: Signed checkpoints of the record log.
CHECKPOINTS = "certlife.checkpoints.v1"
#: Internal domain events keyed by certificate.
EVENTS = "certlife.events.v1"
#: The relay's own committed position (internal; one message per transaction).
RELAY_STATE = "certlife.relay-state.v1"
