"""What the projection process tells its observer (the process's metrics) about each batch.

The projections layer knows no metrics library; the composition root hands
:func:`certlife.projections.consumer.build_projection_app` an observer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from certlife.projections.batch import Read


class BatchObserver(Protocol):
    """Told what each batch did (the process's metrics; the composition root supplies it)."""

    def read(self, newest: int) -> None:
        """A batch was read: the log holds at least ``newest`` records."""

    def applied(self, messages: int, seconds: float, positions: dict[str, tuple[int, int, int]]) -> None:
        """A batch committed: ``positions[name] = (log size applied, newest checkpoint size, parked now)``."""


class Unobserved:
    """The observer when none is given: told nothing."""

    def read(self, newest: int) -> None:
        """Nothing."""

    def applied(self, messages: int, seconds: float, positions: dict[str, tuple[int, int, int]]) -> None:
        """Nothing."""


def newest_size(reads: Sequence[Read]) -> int:
    """The largest log size a batch's reads show (a record's index + 1, a checkpoint's size)."""
    newest = 0
    for read in reads:
        if read.record is not None:
            newest = max(newest, read.record.index + 1)
        elif read.size is not None:
            newest = max(newest, read.size)
    return newest
