"""Index of validity ends, so the expiry sweep finds due certificates cheaply.

Choice: one small ``ExpiryBucket`` aggregate per UTC day of ``validUntil``
(listing certificate ids) plus one ``ExpirySchedule`` aggregate listing the days
that have a bucket and are not yet swept. Issue and renewal add the certificate
to the bucket of its new ``validUntil`` day; the schedule changes only when a day
gets its first entry or is fully swept, so it is not a hot spot. Entries are
never removed when a certificate is renewed, revoked or withdrawn: the sweep
reloads each listed certificate and expires only those that are really due.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

_NAMESPACE = uuid5(NAMESPACE_URL, "https://certlife.example/ns/expiry")


class ExpiryBucket(Aggregate):
    """Certificates whose ``validUntil`` falls on one UTC day."""

    class Event(Aggregate.Event):
        """Base event of buckets."""

    class BucketOpened(Event, Aggregate.Created):
        """The first certificate for ``day`` (``YYYY-MM-DD``) was scheduled."""

        day: str

    class CertificateScheduled(Event):
        """A certificate's validity ends on this bucket's day."""

        certificate_id: UUID

        def apply(self, aggregate: ExpiryBucket) -> None:
            """Add the certificate to the bucket."""
            if self.certificate_id not in aggregate.listed:
                aggregate.listed.add(self.certificate_id)
                aggregate.certificate_ids.append(self.certificate_id)

    def __init__(self, day: str) -> None:
        """Initialise an empty bucket for ``day``."""
        self.day = day
        #: In scheduling order (the sweep's order); ``listed`` answers membership in O(1).
        self.certificate_ids: list[UUID] = []
        self.listed: set[UUID] = set()

    @staticmethod
    @lru_cache(maxsize=1 << 12)  # asked for by every issue and renewal
    def create_id(day: str) -> UUID:
        """Deterministic bucket id for a ``YYYY-MM-DD`` day."""
        return uuid5(_NAMESPACE, f"bucket\n{day}")

    @classmethod
    def open(cls, day: date, now: datetime) -> ExpiryBucket:
        """Create the bucket for ``day``."""
        return cls._create(
            cls.BucketOpened, id=cls.create_id(day.isoformat()), day=day.isoformat(), timestamp=now
        )

    def schedule(self, certificate_id: UUID, now: datetime) -> None:
        """Add a certificate (no event if it is already listed)."""
        if certificate_id not in self.listed:
            self.trigger_event(self.CertificateScheduled, certificate_id=certificate_id, timestamp=now)


class ExpirySchedule(Aggregate):
    """The days that have a bucket and have not been fully swept yet."""

    class Event(Aggregate.Event):
        """Base event of the schedule."""

    class ScheduleStarted(Event, Aggregate.Created):
        """The (single) schedule was created."""

    class DayAdded(Event):
        """A day got its first bucket entry."""

        day: str

        def apply(self, aggregate: ExpirySchedule) -> None:
            """Add the day."""
            aggregate.days.add(self.day)

    class DaySwept(Event):
        """Every certificate in the day's bucket has been dealt with."""

        day: str

        def apply(self, aggregate: ExpirySchedule) -> None:
            """Remove the day."""
            aggregate.days.discard(self.day)

    #: The one schedule's id.
    ID = uuid5(_NAMESPACE, "schedule")

    def __init__(self) -> None:
        """Initialise with no days."""
        self.days: set[str] = set()

    @classmethod
    def start(cls, now: datetime) -> ExpirySchedule:
        """Create the schedule."""
        return cls._create(cls.ScheduleStarted, id=cls.ID, timestamp=now)

    def add_day(self, day: date, now: datetime) -> None:
        """Add a day (no event if already present)."""
        if day.isoformat() not in self.days:
            self.trigger_event(self.DayAdded, day=day.isoformat(), timestamp=now)

    def mark_swept(self, day: str, now: datetime) -> None:
        """Remove a fully swept day."""
        if day in self.days:
            self.trigger_event(self.DaySwept, day=day, timestamp=now)

    def days_until(self, last: date) -> list[str]:
        """Pending days up to and including ``last``, oldest first."""
        return sorted(d for d in self.days if d <= last.isoformat())
