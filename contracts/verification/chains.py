"""Per-certificate steps: the ``seq``/``prev`` chain and legal lifecycle transitions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from contracts.verification.facts import RecordFacts
from contracts.verification.failures import Check, fail
from domain.errors import InvalidTransition
from domain.lifecycle import LifecycleEvent, Status, next_status


class CertificateChains:
    """The last ``(seq, record hash, status)`` of every certificate, checked in log order.

    Certificates named in ``watch`` also keep the facts of their latest record
    (what ``certverify status`` answers from).
    """

    def __init__(self, watch: Collection[str] = ()) -> None:
        self._state: dict[str, tuple[int, bytes, Status]] = {}
        self._watch = frozenset(watch)
        self.latest: dict[str, RecordFacts] = {}

    def __len__(self) -> int:
        return len(self._state)

    def check(self, f: RecordFacts, checks: Counter[str]) -> None:
        """Run the chain and transition steps for certificate record ``f`` and remember it."""
        number = f.number
        assert number is not None  # a parsed certificate record always has one
        state = self._state.get(number)
        # Step: chain — seq counts this certificate's records, prev hashes the previous one.
        if state is None:
            if f.seq != 1:
                raise fail(
                    "chain-seq",
                    f"seq {f.seq} but the log holds no earlier record of this certificate",
                    index=f.log_index,
                    certificate=number,
                    position=f.position,
                )
        else:
            seq, digest, _ = state
            if f.seq != seq + 1:
                raise fail(
                    "chain-seq",
                    f"seq {f.seq} follows seq {seq} of this certificate",
                    index=f.log_index,
                    certificate=number,
                    position=f.position,
                )
            if f.prev != digest:
                raise fail(
                    "chain-prev",
                    "prev is not the SHA-256 of this certificate's previous record",
                    index=f.log_index,
                    certificate=number,
                    position=f.position,
                )
        checks[Check.CHAIN] += 1
        # Step: transition — the event is legal from the status before, and yields `status`.
        before = None if state is None else state[2]
        try:
            after = next_status(before, LifecycleEvent(str(f.event)))
        except (InvalidTransition, ValueError) as exc:
            raise fail(
                "illegal-transition", str(exc), index=f.log_index, certificate=number, position=f.position
            ) from None
        if after != f.status:
            raise fail(
                "status-mismatch",
                f"'{f.event}' from {before or 'nothing'} gives {after}, the record says {f.status}",
                index=f.log_index,
                certificate=number,
                position=f.position,
            )
        checks[Check.TRANSITION] += 1
        self._state[number] = (f.seq, f.digest, after)
        if number in self._watch:
            self.latest[number] = f
