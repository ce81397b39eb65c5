"""Recovery after each fault: from its end to the first progress of each stage of the pipeline.

Three stages are watched (:class:`certlife.services.chaos.load.Observer`): an
outcome arrives (the command service), a log record arrives (the relay), the
read model's position advances (the projections). A fault's recovery time is
the longest of the three: the moment the whole pipeline moves again.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from certlife.services.chaos.faults import Fault
from certlife.services.chaos.load import Observer

STAGES = ("outcome", "log record", "read model")


@dataclass(frozen=True)
class Recovery:
    """Seconds from a fault's end to each stage's first progress (None: none seen)."""

    fault: Fault
    stages: dict[str, float | None]

    @property
    def seconds(self) -> float | None:
        """When the whole pipeline moved again (None if a stage never did)."""
        values = list(self.stages.values())
        return None if any(v is None for v in values) else max(v for v in values if v is not None)

    def to_json(self) -> dict[str, Any]:
        """A JSON object (the report's data file)."""
        f = self.fault
        return {
            "name": f.name, "kind": f.kind, "target": f.target, "started": f.started, "ended": f.ended,
            "notes": f.notes, "stages": self.stages, "recovery": self.seconds,
        }  # fmt: skip


def _first_after(arrivals: list[float], instant: float) -> float | None:
    i = bisect.bisect_right(arrivals, instant)
    return arrivals[i] - instant if i < len(arrivals) else None


def _advance_after(positions: list[tuple[float, int]], instant: float) -> float | None:
    """From ``instant`` to the first sample above the first sample taken after it: a batch the
    killed process committed just before the kill is in that first sample, not counted as progress."""
    after = [(t, p) for t, p in positions if t > instant]
    if not after:
        return None
    base = after[0][1]
    return next((t - instant for t, p in after if p > base), None)


def recoveries(faults: list[Fault], observer: Observer) -> list[Recovery]:
    """The recovery of every fault from what ``observer`` saw."""
    outcomes, records = sorted(observer.outcomes), sorted(observer.records)
    out = []
    for fault in faults:
        stages = {
            "outcome": _first_after(outcomes, fault.ended),
            "log record": _first_after(records, fault.ended),
            "read model": _advance_after(observer.positions, fault.ended),
        }
        out.append(Recovery(fault, stages))
    return out
