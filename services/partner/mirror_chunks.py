"""The mirror's chunks once their per-record work is done: checked in log order, then anchored.

:meth:`ReadyChunk.check` feeds a chunk's facts to the
:class:`~certlife.contracts.verification.LogVerifier` in order, but never past
the newest verified checkpoint (records beyond it wait for the next one):
whole runs of plain records at once (``feed_batch``), record by record only
where a run straddles that checkpoint. :func:`anchor` then turns the records
the verifier accepted into one :class:`Anchored` batch per checkpoint whose
root it verified on the way: the rows to write and the records to park.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from certlife.contracts.verification import LogVerifier, VerifiedCheckpoint
from certlife.contracts.verification.facts import FastRun
from certlife.projections.mirror_rows import AnyRow
from certlife.projections.parking import Parked
from certlife.services.partner.mirror_work import Prepared


@dataclass
class Anchored:
    """Records accepted since the previous checkpoint, in index order, as the store takes them."""

    #: Records accepted (new indexes), applied by an earlier run or not.
    accepted: int = 0
    #: Records to apply (index not applied by an earlier run), rows, parkings and key records.
    count: int = 0
    rows: list[AnyRow] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    parked: list[Parked] = field(default_factory=list)


class ReadyChunk:
    """A chunk's messages and prepared facts; :attr:`at` messages of it have been checked."""

    def __init__(self, raws: Sequence[bytes], prepared: Prepared) -> None:
        """Hold ``raws`` and what the workers made of them."""
        self.raws = raws
        self.prepared = prepared
        self.at = 0
        self._item = 0  # the next fact to check
        self._part = 0  # records of that fact (a run) checked already
        self._claims: list[int] | None = None

    @property
    def left(self) -> int:
        """Messages not checked yet."""
        return len(self.raws) - self.at

    def claims(self) -> list[int]:
        """The log index each message claims (-1 for one that is not a record)."""
        if self._claims is None:
            claims: list[int] = []
            for item in self.prepared.facts:
                if isinstance(item, FastRun):
                    claims += range(item.log_index, item.log_index + item.size)
                else:
                    claims.append(item.log_index)
            self._claims = claims
        return self._claims

    def check(self, verifier: LogVerifier, limit: int) -> None:
        """Run the sequential checks on the next messages until the log has ``limit`` records or none is left.

        Raises :class:`~certlife.contracts.verification.VerificationError` at the first failure.
        """
        facts = self.prepared.facts
        while self._item < len(facts) and verifier.size < limit:
            item = facts[self._item]
            if not isinstance(item, FastRun):
                verifier.feed(item)
                self._item, self.at = self._item + 1, self.at + 1
            elif self._part == 0 and item.log_index + item.size <= limit:
                verifier.feed_batch([item])
                self._item, self.at = self._item + 1, self.at + item.size
            else:  # the run reaches past the newest checkpoint: up to it, one record at a time
                verifier.feed(item.facts(self._part, verifier.origin))
                self._part, self.at = self._part + 1, self.at + 1
                if self._part == item.size:
                    self._item, self._part = self._item + 1, 0


def anchor(
    chunk: ReadyChunk,
    start: int,
    before: int,
    after: int,
    verified: Sequence[VerifiedCheckpoint],
    pending: Anchored,
    applied: int,
) -> tuple[list[tuple[VerifiedCheckpoint, Anchored]], Anchored]:
    """Sort the records accepted from message ``start`` on (log size ``before`` -> ``after``) into batches.

    ``pending`` holds what was accepted before, ``verified`` the checkpoints
    whose roots were verified meanwhile (in order); records with an index below
    ``applied`` were applied by an earlier run and are only counted. Returns
    each verified checkpoint with the records it anchors, and what waits for
    the next checkpoint.
    """
    claims, outcomes, raws = chunk.claims(), chunk.prepared.outcomes, chunk.raws
    done: list[tuple[VerifiedCheckpoint, Anchored]] = []
    cuts = list(reversed(verified))
    batch, expected, at = pending, before, start
    while expected < after:
        if claims[at] == expected:  # else an exact repeat of an accepted record
            batch.accepted += 1
            if expected >= applied:
                batch.count += 1
                outcome = outcomes[at]
                if isinstance(outcome, tuple):  # a row (Parked is not a tuple)
                    batch.rows.append(outcome)
                    batch.raws.append(raws[at])
                elif outcome is not None:
                    batch.parked.append(outcome)
            expected += 1
            while cuts and cuts[-1].size == expected:
                done.append((cuts.pop(), batch))
                batch = Anchored()
        at += 1
    return done, batch
