"""The lifecycle plan: one ``Step`` per record, in time (= index) order.

Certificate ``i`` of ``n`` is issued at a jittered time in the ``i``-th slice
of the fixture window, then takes a weighted random walk over
``certlife.domain.lifecycle.TRANSITIONS``: incidents (suspensions, amendments,
revocations, withdrawals, reinstatements) arrive at random times, and at the
end of each validity period the certificate is renewed or expires (and may
be renewed late, within the grace period). Events after the window's end are
not recorded. A single key rotation is planned at ``ROTATION_AT`` for runs of
at least ``ROTATION_MIN_CERTIFICATES`` certificates.

Per-certificate state lives in compact arrays; pending events are a heap of
integers ``time * n + certificate``. Randomness comes only from
``random.Random.random()`` (stable across Python versions), seeded by the run key.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from array import array
from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

from certlife.domain.certificate import EXPIRY_REASON
from certlife.domain.lifecycle import TRANSITIONS, LifecycleEvent, Status, next_status
from certlife.services.demo.catalogue import REASONS
from certlife.services.demo.fixturegen.catalog import EPOCH_DATE, add_years, validity_years

DAY, YEAR = 86_400, 365 * 86_400
START = (EPOCH_DATE.toordinal() - 719_163) * DAY  # 2020-01-01T00:00:00Z in Unix seconds
WINDOW_DAYS = 2_192  # up to 2026-01-01
END = START + WINDOW_DAYS * DAY
ROTATION_AT = START + int(WINDOW_DAYS * 0.65) * DAY  # about the middle of the log by record count
ROTATION_MIN_CERTIFICATES = 100
ROTATE = "rotate"

E = LifecycleEvent
#: Yearly rates of events that can happen at any time, by status (keys must be in TRANSITIONS).
RATES: dict[Status, dict[LifecycleEvent, float]] = {
    Status.VALID: {E.SUSPENDED: 0.12, E.AMENDED: 0.25, E.WITHDRAWN: 0.04, E.REVOKED: 0.02},
    Status.SUSPENDED: {E.REINSTATED: 6.0, E.REVOKED: 0.8, E.WITHDRAWN: 0.5, E.AMENDED: 0.3},
}
#: Probability of a renewal (rather than expiry) at the end of validity, by status.
RENEWAL = {Status.VALID: 0.55, Status.SUSPENDED: 0.15, Status.EXPIRED: 0.25}
#: Incidents are planned no later than this before validUntil (renewal window).
MARGIN = {Status.VALID: 60 * DAY, Status.SUSPENDED: 0}
_BACKDATED = frozenset({E.SUSPENDED, E.REVOKED, E.WITHDRAWN})
_STATUSES: tuple[Status | None, ...] = (None, *Status)
_EVENTS = tuple(LifecycleEvent)
assert all((status, event) in TRANSITIONS for status, rates in RATES.items() for event in rates)


class Step(NamedTuple):
    """Everything needed to build one record (times in Unix seconds, dates in fixture days)."""

    log_index: int
    cert: int  # -1 for a key rotation
    event: str  # a LifecycleEvent value, or ROTATE
    status: str
    seq: int
    amendments: int
    issued_day: int
    vf_day: int
    vu_day: int
    effective: int
    recorded: int
    reason: str | None
    key: int  # number of the record key that signs
    last: bool  # no later record of this certificate follows


class Planner:
    """Plans the records of ``n`` certificates for the run key ``key``."""

    def __init__(self, n: int, key: str) -> None:
        self.n, self._key = n, key
        self._rng = random.Random(int.from_bytes(hashlib.sha256(f"{key}\nplan".encode()).digest(), "big"))
        self._status, self._event, self._reason = bytearray(n), bytearray(n), bytearray(n)
        self._seq, self._amend, self._issued, self._vf, self._vu = (
            array("H", bytes(2 * n)) for _ in range(5)
        )
        self._back = array("I", bytes(4 * n))
        self._heap: list[int] = []
        self.issued = 0
        self.rotation_index: int | None = None
        self.events: Counter[str] = Counter()

    def issue_time(self, cert: int) -> int:
        """When certificate ``cert`` is issued: a jittered point of its slice of the window."""
        span = (END - START - DAY) // self.n
        jitter = int.from_bytes(hashlib.sha256(f"{self._key}\nissue\n{cert}".encode()).digest()[:8], "big")
        return START + cert * span + jitter % max(span, 1)

    def steps(self) -> Iterator[Step]:
        """Yield the steps in index order (a rotation step included when planned)."""
        n, heap, index, key = self.n, self._heap, 0, 0
        rotate_at = ROTATION_AT if n >= ROTATION_MIN_CERTIFICATES else None
        upcoming = self.issue_time(0) * n
        while heap or self.issued < n:
            due = heap[0] if heap and (self.issued == n or heap[0] < upcoming) else None
            t = (upcoming if due is None else due) // n
            if rotate_at is not None and t >= rotate_at:
                yield Step(
                    index,
                    -1,
                    ROTATE,
                    "",
                    0,
                    0,
                    0,
                    0,
                    0,
                    rotate_at,
                    rotate_at,
                    "scheduled key rotation",
                    0,
                    True,
                )
                self.rotation_index, index, key, rotate_at = index, index + 1, 1, None
            if due is None:
                yield self._issue(self.issued, t, index, key)
                self.issued += 1
                if self.issued < n:
                    upcoming = self.issue_time(self.issued) * n + self.issued
            else:
                heapq.heappop(heap)
                yield self._advance(due % n, t, index, key)
            index += 1

    def _issue(self, cert: int, t: int, index: int, key: int) -> Step:
        day = (t - START) // DAY
        until = add_years(day, validity_years(self._key, cert))
        self._status[cert], self._seq[cert] = 1, 1
        self._issued[cert], self._vf[cert], self._vu[cert] = day, day, until
        self.events[E.ISSUED] += 1
        last = not self._schedule(cert, t)
        return Step(
            index, cert, E.ISSUED.value, Status.VALID.value, 1, 0, day, day, until, t, t, None, key, last
        )

    def _advance(self, cert: int, t: int, index: int, key: int) -> Step:
        before, event = _STATUSES[self._status[cert]], _EVENTS[self._event[cert]]
        status = next_status(before, event)
        if event == E.RENEWED:
            start = self._vu[cert] if before != Status.EXPIRED else (t - START) // DAY
            self._vf[cert], self._vu[cert] = start, add_years(start, validity_years(self._key, cert))
        self._amend[cert] += event == E.AMENDED
        self._seq[cert], self._status[cert] = self._seq[cert] + 1, _STATUSES.index(status)
        reason = EXPIRY_REASON if event == E.EXPIRED else REASONS.get(event, (None,))[self._reason[cert]]
        self.events[event] += 1
        last = not self._schedule(cert, t)
        return Step(
            index, cert, event.value, status.value, self._seq[cert], self._amend[cert], self._issued[cert],
            self._vf[cert], self._vu[cert], t - self._back[cert], t, reason, key, last,
        )  # fmt: skip

    def _schedule(self, cert: int, t: int) -> bool:
        """Plan the certificate's next event; False if there is none inside the window."""
        rand, status = self._rng.random, _STATUSES[self._status[cert]]
        until, back = START + self._vu[cert] * DAY, 0
        if status == Status.EXPIRED or status not in RATES:
            if status != Status.EXPIRED or rand() >= RENEWAL[status]:
                return False
            event, when = E.RENEWED, until + DAY + int(rand() * 85 * DAY)
        else:
            rates = RATES[status]
            gap = int(-math.log(1.0 - rand()) / sum(rates.values()) * YEAR)
            if t + gap < until - MARGIN[status]:
                event, when = self._pick(rates, rand()), t + gap
                if event in _BACKDATED and rand() < 0.5:
                    back = int(rand() * min(7 * DAY, gap))
            elif rand() < RENEWAL[status] and until - t > 2:
                event, when = E.RENEWED, max(until - 5 * DAY - int(rand() * 55 * DAY), t + (until - t) // 2)
            else:
                event, when = E.EXPIRED, until + int(rand() * 6 * 3600)
                back = when - until
        if when >= END:
            return False
        self._event[cert], self._back[cert] = _EVENTS.index(event), back
        self._reason[cert] = int(rand() * len(REASONS[event])) if event in REASONS else 0
        heapq.heappush(self._heap, when * self.n + cert)
        return True

    @staticmethod
    def _pick(rates: dict[LifecycleEvent, float], u: float) -> LifecycleEvent:
        """The event whose share of the total rate ``u`` (uniform in [0, 1)) falls in."""
        threshold = u * sum(rates.values())
        events = list(rates)
        for event in events[:-1]:
            threshold -= rates[event]
            if threshold < 0:
                return event
        return events[-1]
