"""``certctl projections status``: each projection's generation, position, lag and parked records.

The caller hands in the consumer factory of its Kafka connector and the
PostgreSQL session (and closes it); nothing here opens a client by endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import TopicPartition

from certlife.projections.answer import covering_checkpoint
from certlife.projections.committed import OpenConsumer
from certlife.projections.config import ProjectionConfig
from certlife.projections.parked import ParkedSummary, parked_summary
from certlife.projections.registry import PROJECTIONS
from certlife.projections.tracking import create_tracking, load_position


@dataclass(frozen=True)
class ProjectionStatus:
    """Where one projection generation is, how far behind the topics' ends, and what it parked."""

    name: str
    generation: int
    live: bool
    log_index: int
    checkpoint: int | None
    updated_at: datetime | None
    lag: dict[str, int]
    parked: ParkedSummary = field(default_factory=ParkedSummary)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "generation": self.generation,
            "live": self.live,
            "index": None if self.log_index < 0 else self.log_index,
            "checkpoint": covering_checkpoint(self.log_index, self.checkpoint),
            "latestCheckpoint": self.checkpoint,
            "updatedAt": None if self.updated_at is None else self.updated_at.isoformat(),
            "lag": self.lag,
            "totalLag": sum(self.lag.values()),
            "parked": self.parked.to_json(),
        }


async def end_offsets(config: ProjectionConfig, open_consumer: OpenConsumer) -> dict[tuple[str, int], int]:
    """Committed end offsets (read_committed) of every log/checkpoint partition."""
    consumer = open_consumer()
    try:
        await consumer.start()
        tps = [
            TopicPartition(topic, p)
            for topic in (config.log_topic, config.checkpoints_topic)
            for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        ends = await consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): ends[tp] for tp in tps}
    finally:
        await consumer.stop()


async def projection_status(
    config: ProjectionConfig, conn: asyncpg.Connection, ends: dict[tuple[str, int], int]
) -> list[ProjectionStatus]:
    """Every generation of every projection (a rebuild in progress shows as not live).

    ``ends`` are the topics' :func:`end_offsets`, read first (so an unreachable
    broker is reported before the database is touched).
    """
    s = config.schema_sql
    await create_tracking(conn, s)
    live = {r["name"]: r["generation"] for r in await conn.fetch(f"SELECT * FROM {s}.projection_live")}
    rows = await conn.fetch(f"SELECT name, generation FROM {s}.projection_state ORDER BY name, generation")
    out = []
    for name in PROJECTIONS:
        for row in [r for r in rows if r["name"] == name] or [None]:
            if row is None:
                out.append(ProjectionStatus(name, 0, False, -1, None, None, _lag(ends, {})))
                continue
            position = await load_position(conn, s, name, row["generation"])
            out.append(
                ProjectionStatus(
                    name,
                    position.generation,
                    live.get(name) == position.generation,
                    position.log_index,
                    position.checkpoint_size,
                    position.updated_at,
                    _lag(ends, position.offsets),
                    await parked_summary(conn, s, name, position.generation),
                )
            )
    return out


def _lag(ends: dict[tuple[str, int], int], stored: dict[tuple[str, int], int]) -> dict[str, int]:
    """End offset minus stored offset per partition (transaction markers count as lag of 1)."""
    return {f"{t}[{p}]": max(0, end - stored.get((t, p), 0)) for (t, p), end in ends.items()}
