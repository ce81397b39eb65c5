"""The live statements' rows of a batch, computed while the batch before it is written.

A batch's rows depend on what is new to each projection, which only its
stored position says (read inside the batch's transaction). In the common
case that is every record of the batch that may be applied: :func:`prepare`
maps those once the batch is read, so the mapping (fold, rows) runs while the
previous batch waits on PostgreSQL instead of after it. The batch's
transaction still selects its records against the locked position
(``certlife.projections.batch.select_read``) and uses the rows prepared ahead
only when its selection is exactly the records they were mapped from (the same
objects, in the same order); anything else (a redelivery, a rewind, another
generation's position) maps its records there, as without this module. A
batch whose mapping fails is not prepared; its transaction maps it again and
parks what is refused (``certlife.projections.savepoints``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from certlife.contracts.records import Record
from certlife.projections.base import Projection
from certlife.projections.batch import Read


@dataclass(frozen=True)
class Rows:
    """One projection's rows of a live batch (``Projection.live_rows``)."""

    rows: Sequence[tuple[Any, ...]]


@dataclass(frozen=True)
class Ahead:
    """Rows prepared ahead for a batch, with the records they were mapped from."""

    records: tuple[Record, ...] = ()
    rows: dict[str, Rows] = field(default_factory=dict)

    def rows_for(self, name: str, records: Sequence[Record]) -> Rows | None:
        """The prepared rows of projection ``name`` if ``records`` are exactly the ones mapped, else None."""
        rows = self.rows.get(name)
        if rows is None or len(records) != len(self.records):
            return None
        if any(a is not b for a, b in zip(records, self.records, strict=True)):
            return None
        return rows


#: Nothing prepared (every projection maps its records inside the transaction).
NOTHING = Ahead()


def applicable(reads: Sequence[Read]) -> list[Record]:
    """The records of ``reads`` that may be applied (parsed, content admissible), in order."""
    return [read.record for read in reads if read.record is not None and read.problem is None]


async def prepare(projections: Sequence[Projection], reads: Sequence[Read], issuer: str) -> Ahead:
    """Each projection's rows for every applicable record of ``reads``; a mapping that fails is skipped.

    Yields to the event loop after each projection (the batch in flight moves on).
    """
    records = applicable(reads)
    rows: dict[str, Rows] = {}
    for projection in projections:
        # A mapping that fails is done again in the transaction, which parks or fails as before.
        with contextlib.suppress(Exception):
            rows[projection.name] = Rows(projection.live_rows(records, issuer))
        await asyncio.sleep(0)
    return Ahead(tuple(records), rows)
