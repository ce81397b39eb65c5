"""The ``Certificate`` aggregate and its lifecycle events.

Each command method decides (all checks first, then exactly one event) and the
event's ``apply`` evolves the state. Time is an input: ``now`` becomes the
event's ``timestamp`` and ``recorded_at``; ``effective_at`` is the legal date,
defaulting to ``now`` and backdated at most ``LifecyclePolicy.max_backdating``.

Every lifecycle event carries, as plain JSON values, what a public record needs
(``certificate``, ``status``, ``reason``, ``effective_at``, ``recorded_at``) so
a relay can publish it without reloading the aggregate: see
:meth:`Certificate.Event.record_fields` and :data:`EVENT_NAMES`.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from certlife.domain.errors import (
    BackdatingTooFar,
    EffectiveInFuture,
    InvalidCertificateData,
    NotYetDue,
    RecordTooLarge,
    RenewalGraceExpired,
)
from certlife.domain.lifecycle import LifecycleEvent, Status, next_status
from certlife.domain.values import (
    Amendment,
    CertificateData,
    LifecyclePolicy,
    TestReportRef,
    ValidityPeriod,
    format_date,
    format_instant,
    instant,
    parse_instant,
)

#: Namespace of deterministic certificate ids (uuid5 over "issuer\nnumber").
CERTIFICATE_NAMESPACE = uuid5(NAMESPACE_URL, "https://certlife.example/ns/certificate")

#: Reason recorded on an expiry (the sweep's event).
EXPIRY_REASON = "validity period ended"


def _reason(reason: str | None, *, required: bool) -> str | None:
    if reason is not None and (not reason.strip() or len(reason) > 1024):
        raise InvalidCertificateData("reason must be a non-empty string of at most 1024 chars")
    if required and reason is None:
        raise InvalidCertificateData("a reason is required")
    return reason


def _fits(public: dict[str, Any], policy: LifecyclePolicy) -> dict[str, Any]:
    """``public`` if every log record of a certificate of this form fits the log; else raise.

    Only issuing and amending change what a record carries beyond its reason (a renewal
    changes fixed-length dates), so those two decisions check it, with room for any later
    reason: every later record of the certificate then fits too.
    """
    if policy.record_size is not None:
        size = policy.record_size(public)
        if size > policy.max_record_bytes:
            raise RecordTooLarge(size, policy.max_record_bytes)
    return public


class _PublicForms:
    """The ``CertificateData`` behind the public form built last for a new event, matched by identity.

    Applying an event rebuilds the certificate's data from the event's public form
    (``CertificateData.from_public``, which validates it all again). For an event
    this module has just triggered, the data it was built from is known and equal
    to that rebuild (its texts passed the same checks; its validity is read back
    from the form and compared), so it is taken instead. The form is matched by
    identity and kept referenced here, so no other dict can be mistaken for it; a
    replayed event (a new dict, decoded from the store) is rebuilt as before.
    """

    def __init__(self) -> None:
        self._last: tuple[dict[str, Any], CertificateData] | None = None

    def public(self, data: CertificateData) -> dict[str, Any]:
        """``data.to_public()``, remembered for :meth:`data`."""
        public = data.to_public()
        self._last = (public, data)
        return public

    def data(self, public: dict[str, Any]) -> CertificateData:
        """The certificate data of an event's public form (``CertificateData.from_public``)."""
        last = self._last
        if last is not None and last[0] is public:
            # Only the validity goes through text: it must read back as it was written.
            data = last[1]
            valid_from, valid_until = parse_instant(public["validFrom"]), parse_instant(public["validUntil"])
            if (valid_from, valid_until) == (data.validity.valid_from, data.validity.valid_until):
                return data
        return CertificateData.from_public(public)


_PUBLIC_FORMS = _PublicForms()

#: ``Status`` by value, without the enum's call machinery (every applied event looks one up).
_STATUSES: dict[str, Status] = {status.value: status for status in Status}


class Certificate(Aggregate):
    """A product certificate (CCC, CQC mark, IECEE CB, E-mark, ...) and its lifecycle."""

    class Event(Aggregate.Event):
        """Base of the lifecycle events: the public state after the event."""

        command_id: str
        certificate: dict[str, Any]
        status: str
        reason: str | None
        effective_at: str
        recorded_at: str

        def apply(self, aggregate: Any) -> None:
            """Adopt the certificate data and status carried by the event."""
            cast(Certificate, aggregate)._adopt(self)

        def record_fields(self) -> dict[str, Any]:
            """Return the record members this event determines (wire names)."""
            return {
                "certificate": self.certificate,
                "event": EVENT_NAMES[type(self)],
                "status": self.status,
                "reason": self.reason,
                "effectiveAt": self.effective_at,
                "recordedAt": self.recorded_at,
            }

    class CertificateIssued(Event, Aggregate.Created):
        """The certificate was issued (creates the aggregate)."""

        issuer: str
        test_reports: list[dict[str, str]]

    class CertificateSuspended(Event):
        """The certificate was suspended, optionally until a review date."""

        review_date: str | None

        def apply(self, aggregate: Any) -> None:
            """Adopt the state and remember the review date."""
            super().apply(aggregate)
            cast(Certificate, aggregate).review_date = self.review_date

    class CertificateReinstated(Event):
        """A suspension was lifted."""

    class CertificateRenewed(Event):
        """The certificate got a new validity period."""

        previous_valid_until: str

    class CertificateAmended(Event):
        """Scope, models, factories, standards and/or test reports were changed."""

        changed: list[str]
        test_reports: list[dict[str, str]] | None

        def apply(self, aggregate: Any) -> None:
            """Adopt the state and replace the test reports if given."""
            super().apply(aggregate)
            if self.test_reports is not None:
                cert = cast(Certificate, aggregate)
                cert.test_reports = tuple(TestReportRef.from_dict(d) for d in self.test_reports)

    class CertificateRevoked(Event):
        """The certificate was revoked by the issuer (final)."""

    class CertificateWithdrawn(Event):
        """The certificate was withdrawn, e.g. at the holder's request (final)."""

    class CertificateExpired(Event):
        """The validity period ended (recorded by the expiry sweep)."""

    def __init__(self, issuer: str, test_reports: list[dict[str, str]]) -> None:
        """Initialise from ``CertificateIssued`` (whose ``apply`` sets data and status)."""
        self.issuer = issuer
        self.test_reports = tuple(TestReportRef.from_dict(d) for d in test_reports)
        self.review_date: str | None = None
        self.data: CertificateData
        self.status: Status
        self.status_effective_at: datetime

    @staticmethod
    @lru_cache(maxsize=1 << 14)  # a batch asks for each of its ids several times
    def create_id(issuer: str, number: str) -> UUID:
        """Deterministic id: uuid5 over ``issuer`` and ``number`` (unique per issuer)."""
        return uuid5(CERTIFICATE_NAMESPACE, f"{issuer}\n{number}")

    def _adopt(self, event: Certificate.Event) -> None:
        status = _STATUSES.get(event.status) or Status(event.status)
        if not hasattr(self, "status") or status != self.status:
            self.status_effective_at = parse_instant(event.effective_at)
        self.data = _PUBLIC_FORMS.data(event.certificate)
        self.status = status
        if status != Status.SUSPENDED:
            self.review_date = None

    # -- decisions -----------------------------------------------------------------

    @classmethod
    def issue(
        cls,
        *,
        issuer: str,
        data: CertificateData,
        test_reports: tuple[TestReportRef, ...] = (),
        command_id: str,
        now: datetime,
        policy: LifecyclePolicy,
        effective_at: datetime | None = None,
    ) -> Certificate:
        """Issue a new certificate (status ``valid``)."""
        status = next_status(None, LifecycleEvent.ISSUED)
        if not issuer.strip():
            raise InvalidCertificateData("issuer must be a non-empty string")
        recorded, effective = _times(now, effective_at, policy)
        if data.valid_until <= recorded:
            raise InvalidCertificateData("validUntil must be later than the time of issue")
        return cls._create(
            cls.CertificateIssued,
            id=cls.create_id(issuer, data.number),
            timestamp=recorded,
            issuer=issuer,
            test_reports=[t.to_dict() for t in test_reports],
            command_id=command_id,
            certificate=_fits(_PUBLIC_FORMS.public(data), policy),
            status=status.value,
            reason=None,
            effective_at=format_instant(effective),
            recorded_at=format_instant(recorded),
        )

    def suspend(
        self,
        *,
        reason: str,
        review_date: date | None = None,
        command_id: str,
        now: datetime,
        policy: LifecyclePolicy,
        effective_at: datetime | None = None,
    ) -> None:
        """Suspend a valid certificate, optionally naming a review date."""
        status, recorded, effective = self._checked(
            LifecycleEvent.SUSPENDED, reason, now, effective_at, policy, required=True
        )
        if review_date is not None and review_date < effective.date():
            raise InvalidCertificateData("reviewDate must not be before the suspension")
        self._trigger(
            self.CertificateSuspended,
            status,
            self.data,
            command_id,
            reason,
            recorded,
            effective,
            review_date=None if review_date is None else format_date(review_date),
        )

    def reinstate(
        self,
        *,
        reason: str | None = None,
        command_id: str,
        now: datetime,
        policy: LifecyclePolicy,
        effective_at: datetime | None = None,
    ) -> None:
        """Lift a suspension."""
        status, recorded, effective = self._checked(
            LifecycleEvent.REINSTATED, reason, now, effective_at, policy
        )
        self._trigger(self.CertificateReinstated, status, self.data, command_id, reason, recorded, effective)

    def renew(
        self,
        *,
        validity: ValidityPeriod,
        reason: str | None = None,
        command_id: str,
        now: datetime,
        policy: LifecyclePolicy,
        effective_at: datetime | None = None,
    ) -> None:
        """Give a valid, suspended or (within the grace period) expired certificate
        a new validity period."""
        status, recorded, effective = self._checked(LifecycleEvent.RENEWED, reason, now, effective_at, policy)
        if self.status == Status.EXPIRED:
            grace_end = self.data.valid_until + policy.renewal_grace
            if recorded > grace_end:
                raise RenewalGraceExpired(format_instant(self.data.valid_until), format_instant(grace_end))
        if validity.valid_until <= recorded:
            raise InvalidCertificateData("the new validUntil must be later than now")
        if validity.valid_until <= self.data.valid_until:
            raise InvalidCertificateData("the new validUntil must extend the validity")
        self._trigger(
            self.CertificateRenewed,
            status,
            self.data.renewed(validity),
            command_id,
            reason,
            recorded,
            effective,
            previous_valid_until=format_instant(self.data.valid_until),
        )

    def amend(
        self,
        *,
        amendment: Amendment,
        test_reports: tuple[TestReportRef, ...] | None = None,
        reason: str | None = None,
        command_id: str,
        now: datetime,
        policy: LifecyclePolicy,
        effective_at: datetime | None = None,
    ) -> None:
        """Change scope, models, factories and/or standards (and test reports)."""
        status, recorded, effective = self._checked(LifecycleEvent.AMENDED, reason, now, effective_at, policy)
        data = self.data.amended(amendment)
        if data == self.data and (test_reports is None or test_reports == self.test_reports):
            raise InvalidCertificateData("the amendment changes nothing")
        _fits(data.to_public(), policy)
        self._trigger(
            self.CertificateAmended,
            status,
            data,
            command_id,
            reason,
            recorded,
            effective,
            changed=amendment.changed_fields() + ([] if test_reports is None else ["testReports"]),
            test_reports=None if test_reports is None else [t.to_dict() for t in test_reports],
        )

    def revoke(
        self,
        *,
        reason: str,
        command_id: str,
        now: datetime,
        policy: LifecyclePolicy,
        effective_at: datetime | None = None,
    ) -> None:
        """Revoke the certificate (final)."""
        status, recorded, effective = self._checked(
            LifecycleEvent.REVOKED, reason, now, effective_at, policy, required=True
        )
        self._trigger(self.CertificateRevoked, status, self.data, command_id, reason, recorded, effective)

    def withdraw(
        self,
        *,
        reason: str | None = None,
        command_id: str,
        now: datetime,
        policy: LifecyclePolicy,
        effective_at: datetime | None = None,
    ) -> None:
        """Withdraw the certificate (final), e.g. at the holder's request."""
        status, recorded, effective = self._checked(
            LifecycleEvent.WITHDRAWN, reason, now, effective_at, policy
        )
        self._trigger(self.CertificateWithdrawn, status, self.data, command_id, reason, recorded, effective)

    def _checked(
        self,
        event: LifecycleEvent,
        reason: str | None,
        now: datetime,
        effective_at: datetime | None,
        policy: LifecyclePolicy,
        *,
        required: bool = False,
    ) -> tuple[Status, datetime, datetime]:
        """The checks every operator command shares: the transition, the reason, the times.

        Returns the status after ``event`` and the (recorded, effective) instants.
        """
        status = next_status(self.status, event)
        _reason(reason, required=required)
        recorded, effective = _times(now, effective_at, policy)
        return status, recorded, effective

    def is_due(self, now: datetime) -> bool:
        """True when the certificate is valid or suspended and its validity has ended."""
        live = self.status in (Status.VALID, Status.SUSPENDED)
        return live and self.data.valid_until <= instant(now)

    def expire(self, *, command_id: str, now: datetime) -> None:
        """Record the end of the validity period (effective at ``validUntil``)."""
        status = next_status(self.status, LifecycleEvent.EXPIRED)
        recorded = instant(now)
        if self.data.valid_until > recorded:
            raise NotYetDue(self.status.value, format_instant(self.data.valid_until))
        self._trigger(
            self.CertificateExpired,
            status,
            self.data,
            command_id,
            EXPIRY_REASON,
            recorded,
            self.data.valid_until,
        )

    def _trigger(
        self,
        event_class: type[Certificate.Event],
        status: Status,
        data: CertificateData,
        command_id: str,
        reason: str | None,
        recorded: datetime,
        effective: datetime,
        **extra: Any,
    ) -> None:
        self.trigger_event(
            event_class,
            timestamp=recorded,
            command_id=command_id,
            certificate=_PUBLIC_FORMS.public(data),
            status=status.value,
            reason=reason,
            effective_at=format_instant(effective),
            recorded_at=format_instant(recorded),
            **extra,
        )


def _times(
    now: datetime, effective_at: datetime | None, policy: LifecyclePolicy
) -> tuple[datetime, datetime]:
    """Return (recorded, effective), enforcing the backdating bound."""
    recorded = instant(now)
    effective = recorded if effective_at is None else instant(effective_at)
    if effective > recorded:
        raise EffectiveInFuture(
            f"effectiveAt {format_instant(effective)} is later than the recording time "
            f"{format_instant(recorded)}"
        )
    if recorded - effective > policy.max_backdating:
        raise BackdatingTooFar(
            f"effectiveAt {format_instant(effective)} is more than "
            f"{policy.max_backdating} before {format_instant(recorded)}"
        )
    return recorded, effective


#: Lifecycle event class -> wire event name (a record's ``event``).
EVENT_NAMES: dict[type[Certificate.Event], str] = {
    Certificate.CertificateIssued: LifecycleEvent.ISSUED.value,
    Certificate.CertificateSuspended: LifecycleEvent.SUSPENDED.value,
    Certificate.CertificateReinstated: LifecycleEvent.REINSTATED.value,
    Certificate.CertificateRenewed: LifecycleEvent.RENEWED.value,
    Certificate.CertificateAmended: LifecycleEvent.AMENDED.value,
    Certificate.CertificateRevoked: LifecycleEvent.REVOKED.value,
    Certificate.CertificateWithdrawn: LifecycleEvent.WITHDRAWN.value,
    Certificate.CertificateExpired: LifecycleEvent.EXPIRED.value,
}

# Explicit re-exports for ``from certlife.domain.certificate import CertificateIssued`` etc.
CertificateIssued = Certificate.CertificateIssued
CertificateSuspended = Certificate.CertificateSuspended
CertificateReinstated = Certificate.CertificateReinstated
CertificateRenewed = Certificate.CertificateRenewed
CertificateAmended = Certificate.CertificateAmended
CertificateRevoked = Certificate.CertificateRevoked
CertificateWithdrawn = Certificate.CertificateWithdrawn
CertificateExpired = Certificate.CertificateExpired
