"""Per-certificate steps: the ``seq``/``prev`` chain and legal lifecycle transitions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from certlife.contracts.verification.codes import ENTRY, STATUS_CODES, STATUS_NAMES
from certlife.contracts.verification.facts import RecordFacts
from certlife.contracts.verification.failures import Check, fail
from certlife.domain.errors import InvalidTransition
from certlife.domain.lifecycle import LifecycleEvent, Status, next_status


class CertificateChains:
    """The last ``(seq, record hash, status)`` of every certificate, checked in log order.

    Certificates named in ``watch`` also keep the facts of their latest record
    (what ``certverify status`` answers from).
    """

    def __init__(self, watch: Collection[str] = ()) -> None:
        #: number -> ``ENTRY``-packed (SHA-256 of the latest record, its seq, status code after it).
        self.state: dict[str, bytes] = {}
        self.watch = frozenset(watch)
        self.latest: dict[str, RecordFacts] = {}

    def __len__(self) -> int:
        return len(self.state)

    def check(self, f: RecordFacts, checks: Counter[str]) -> None:
        """Run the chain and transition steps for certificate record ``f`` and remember it."""
        number = f.number
        assert number is not None  # a parsed certificate record always has one
        entry = self.state.get(number)
        state = None
        if entry is not None:
            digest, seq, code = ENTRY.unpack(entry)
            state = (seq, digest, Status(STATUS_NAMES[code]))
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
        self.state[number] = ENTRY.pack(f.digest, f.seq, STATUS_CODES[after])
        if number in self.watch:
            self.latest[number] = f
