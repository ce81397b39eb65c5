"""The Certificate aggregate: transitions, data rules, times, events as records."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.application import Application
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from certlife.domain.certificate import EVENT_NAMES, Certificate
from certlife.domain.errors import (
    BackdatingTooFar,
    EffectiveInFuture,
    InvalidCertificateData,
    InvalidTransition,
    NotYetDue,
    RenewalGraceExpired,
)
from certlife.domain.lifecycle import LifecycleEvent, Status
from certlife.domain.values import (
    PUBLIC_KEYS,
    Amendment,
    CertificateData,
    LifecyclePolicy,
    TestReportRef,
    ValidityPeriod,
)
from certlife.domain.vocabularies import CCC, IAF_CERTSEARCH, OCSP

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 8, 30, 15, 987654, tzinfo=UTC)
YEAR = timedelta(days=365)
POLICY = LifecyclePolicy(max_backdating=timedelta(days=30), renewal_grace=timedelta(days=90))


def make_data(number: str = "2025010701000001", until: datetime = T0 + YEAR) -> CertificateData:
    return CertificateData(
        number=number,
        scheme="CCC",
        holder="Shenzhen Example Charging Technology Co., Ltd.",
        manufacturer="Shenzhen Example Charging Technology Co., Ltd.",
        factories=("Factory No. 1, Bao'an District, Shenzhen",),
        product="Electric vehicle conductive charging equipment (AC)",
        models=("EVAC-7K", "EVAC-11K"),
        standards=("GB/T 18487.1-2023", "IEC 61851-1"),
        scope="AC charging piles, 7 kW and 11 kW",
        validity=ValidityPeriod(T0, until),
    )


def issued(now: datetime = T0) -> Certificate:
    return Certificate.issue(
        issuer="CQC",
        data=make_data(),
        test_reports=(TestReportRef("CQC Lab Shenzhen", "CQC25-0001"),),
        command_id="cmd-issue",
        now=now,
        policy=POLICY,
    )


def reach(status: Status) -> Certificate:
    """A certificate in ``status`` (changes recorded 10 days after issue)."""
    cert = issued()
    later = T0 + timedelta(days=10)
    if status == Status.SUSPENDED:
        cert.suspend(reason="failed follow-up audit", command_id="c1", now=later, policy=POLICY)
    elif status == Status.REVOKED:
        cert.revoke(reason="false declaration", command_id="c1", now=later, policy=POLICY)
    elif status == Status.WITHDRAWN:
        cert.withdraw(command_id="c1", now=later, policy=POLICY)
    elif status == Status.EXPIRED:
        cert.expire(command_id="c1", now=T0 + YEAR + timedelta(days=1))
    return cert


def last_event(cert: Certificate) -> Certificate.Event:
    event = cert.pending_events[-1]
    assert isinstance(event, Certificate.Event)
    return event


ATTEMPT_AT = T0 + YEAR + timedelta(days=30)  # validity over, expired status within grace


def attempt(cert: Certificate, event: LifecycleEvent) -> None:
    now = ATTEMPT_AT
    kw: dict[str, Any] = {"command_id": "c2", "policy": POLICY}
    actions: dict[LifecycleEvent, Callable[[], None]] = {
        LifecycleEvent.SUSPENDED: lambda: cert.suspend(reason="audit", now=now, **kw),
        LifecycleEvent.REINSTATED: lambda: cert.reinstate(now=now, **kw),
        LifecycleEvent.RENEWED: lambda: cert.renew(validity=ValidityPeriod(now, now + YEAR), now=now, **kw),
        LifecycleEvent.AMENDED: lambda: cert.amend(amendment=Amendment(models=("EVAC-22K",)), now=now, **kw),
        LifecycleEvent.REVOKED: lambda: cert.revoke(reason="misuse of mark", now=now, **kw),
        LifecycleEvent.WITHDRAWN: lambda: cert.withdraw(now=now, **kw),
        LifecycleEvent.EXPIRED: lambda: cert.expire(command_id="c2", now=now),
    }
    actions[event]()


EXPECTED = {
    (Status.VALID, LifecycleEvent.SUSPENDED): Status.SUSPENDED,
    (Status.VALID, LifecycleEvent.RENEWED): Status.VALID,
    (Status.VALID, LifecycleEvent.AMENDED): Status.VALID,
    (Status.VALID, LifecycleEvent.REVOKED): Status.REVOKED,
    (Status.VALID, LifecycleEvent.WITHDRAWN): Status.WITHDRAWN,
    (Status.VALID, LifecycleEvent.EXPIRED): Status.EXPIRED,
    (Status.SUSPENDED, LifecycleEvent.REINSTATED): Status.VALID,
    (Status.SUSPENDED, LifecycleEvent.RENEWED): Status.SUSPENDED,
    (Status.SUSPENDED, LifecycleEvent.AMENDED): Status.SUSPENDED,
    (Status.SUSPENDED, LifecycleEvent.REVOKED): Status.REVOKED,
    (Status.SUSPENDED, LifecycleEvent.WITHDRAWN): Status.WITHDRAWN,
    (Status.SUSPENDED, LifecycleEvent.EXPIRED): Status.EXPIRED,
    (Status.EXPIRED, LifecycleEvent.RENEWED): Status.VALID,
}
CHANGES = [e for e in LifecycleEvent if e != LifecycleEvent.ISSUED]


@pytest.mark.parametrize(("status", "event"), list(itertools.product(Status, CHANGES)), ids=lambda x: str(x))
def test_aggregate_enforces_the_whole_matrix(status: Status, event: LifecycleEvent) -> None:
    cert = reach(status)
    version = cert.version
    if (status, event) in EXPECTED:
        attempt(cert, event)
        assert cert.status == EXPECTED[(status, event)]
        assert cert.version == version + 1
        last = last_event(cert)
        assert EVENT_NAMES[type(last)] == event.value
        assert last.status == cert.status.value
    else:
        with pytest.raises(InvalidTransition) as info:
            attempt(cert, event)
        assert info.value.current == status.value
        assert info.value.attempted == event.value
        assert cert.version == version  # nothing happened
        assert cert.status == status


def test_issue_builds_public_certificate_and_keeps_test_reports_internal() -> None:
    cert = issued()
    (event,) = cert.collect_events()
    assert isinstance(event, Certificate.CertificateIssued)
    assert tuple(event.certificate) == PUBLIC_KEYS
    assert event.certificate["validFrom"] == "2025-03-01T08:30:15Z"
    assert event.certificate["validUntil"] == "2026-03-01T08:30:15Z"
    assert event.certificate["standards"] == ["GB/T 18487.1-2023", "IEC 61851-1"]
    assert event.recorded_at == event.effective_at == "2025-03-01T08:30:15Z"
    assert event.command_id == "cmd-issue"
    assert "CQC25-0001" not in repr(event.certificate)
    assert event.test_reports == [{"lab": "CQC Lab Shenzhen", "reportNumber": "CQC25-0001"}]
    assert cert.test_reports == (TestReportRef("CQC Lab Shenzhen", "CQC25-0001"),)
    assert event.timestamp == T0.replace(microsecond=0)  # time is the input, not the clock
    assert event.record_fields() == {
        "certificate": event.certificate,
        "event": "issued",
        "status": "valid",
        "reason": None,
        "effectiveAt": "2025-03-01T08:30:15Z",
        "recordedAt": "2025-03-01T08:30:15Z",
    }


def test_ids_are_deterministic_per_issuer_and_number() -> None:
    a = Certificate.create_id("CQC", "2025010701000001")
    assert a == Certificate.create_id("CQC", "2025010701000001")
    assert a.version == 5
    assert a != Certificate.create_id("TUV", "2025010701000001")
    assert a != Certificate.create_id("CQC", "2025010701000002")
    assert issued().id == a


def test_events_round_trip_through_the_default_json_transcoder() -> None:
    app: Application[Any] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    cert = reach(Status.SUSPENDED)
    cert.renew(
        validity=ValidityPeriod(T0, T0 + 2 * YEAR),
        command_id="c3",
        now=T0 + timedelta(days=20),
        policy=POLICY,
    )
    app.save(cert)
    copy: Certificate = app.repository.get(cert.id)
    assert copy.status == Status.SUSPENDED
    assert copy.data == cert.data
    assert copy.review_date is None
    assert copy.test_reports == cert.test_reports
    events = [e for e in app.events.get(cert.id) if isinstance(e, Certificate.Event)]
    assert [EVENT_NAMES[type(e)] for e in events] == ["issued", "suspended", "renewed"]
    assert isinstance(events[2], Certificate.CertificateRenewed)
    assert events[2].previous_valid_until == "2026-03-01T08:30:15Z"


def test_suspension_with_review_date_and_reinstatement_clears_it() -> None:
    cert = issued()
    cert.suspend(
        reason="annual factory inspection not passed",
        review_date=date(2025, 6, 1),
        command_id="s",
        now=T0 + timedelta(days=5),
        policy=POLICY,
    )
    assert cert.review_date == "2025-06-01"
    assert last_event(cert).reason == "annual factory inspection not passed"
    cert.reinstate(command_id="r", now=T0 + timedelta(days=6), policy=POLICY)
    assert cert.review_date is None
    assert cert.status_effective_at == (T0 + timedelta(days=6)).replace(microsecond=0)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"reason": ""}, InvalidCertificateData),
        ({"reason": "x", "review_date": date(2025, 3, 1)}, InvalidCertificateData),
        ({"reason": "x", "effective_at": T0 + timedelta(days=11)}, EffectiveInFuture),
        ({"reason": "x", "effective_at": T0 - timedelta(days=21)}, BackdatingTooFar),
    ],
)
def test_suspend_rejections(kwargs: dict[str, Any], error: type[Exception]) -> None:
    cert = issued()
    with pytest.raises(error) as info:
        cert.suspend(command_id="s", now=T0 + timedelta(days=10), policy=POLICY, **kwargs)
    assert cert.version == 1
    assert info.value.code  # type: ignore[attr-defined]


def test_backdating_within_bound_is_recorded_as_effective_date() -> None:
    cert = issued()
    now = T0 + timedelta(days=40)
    cert.revoke(reason="x", command_id="r", now=now, policy=POLICY, effective_at=now - timedelta(days=30))
    event = last_event(cert)
    assert event.effective_at == "2025-03-11T08:30:15Z"
    assert event.recorded_at == "2025-04-10T08:30:15Z"


def test_renewal_of_expired_certificate_only_within_grace() -> None:
    late = T0 + YEAR + timedelta(days=91)
    cert = reach(Status.EXPIRED)
    with pytest.raises(RenewalGraceExpired) as info:
        cert.renew(validity=ValidityPeriod(late, late + YEAR), command_id="n", now=late, policy=POLICY)
    assert info.value.code == "renewal-grace-expired"
    assert "2026-03-01T08:30:15Z" in str(info.value)
    assert "2026-05-30T08:30:15Z" in str(info.value)
    in_grace = late - timedelta(days=2)
    cert.renew(
        validity=ValidityPeriod(in_grace, in_grace + YEAR),
        command_id="n",
        now=in_grace,
        policy=POLICY,
    )
    assert cert.status == Status.VALID


def test_renewal_must_extend_validity() -> None:
    cert = issued()
    with pytest.raises(InvalidCertificateData):
        cert.renew(
            validity=ValidityPeriod(T0, T0 + YEAR - timedelta(days=1)),
            command_id="n",
            now=T0,
            policy=POLICY,
        )


def test_expire_before_valid_until_is_not_yet_due() -> None:
    cert = issued()
    with pytest.raises(NotYetDue) as info:
        cert.expire(command_id="e", now=T0 + YEAR - timedelta(seconds=1))
    assert info.value.current == "valid"
    assert info.value.attempted == "expired"
    assert not cert.is_due(T0 + YEAR - timedelta(seconds=1))
    assert cert.is_due(T0 + YEAR)
    cert.expire(command_id="e", now=T0 + YEAR + timedelta(days=3))
    assert last_event(cert).effective_at == "2026-03-01T08:30:15Z"


def test_amendment_changes_only_named_fields_and_must_change_something() -> None:
    cert = issued()
    cert.amend(
        amendment=Amendment(scope="AC charging piles up to 22 kW", models=("EVAC-22K",)),
        test_reports=(TestReportRef("TÜV Rheinland", "CN25ABC-001"),),
        command_id="a",
        now=T0,
        policy=POLICY,
    )
    event = last_event(cert)
    assert isinstance(event, Certificate.CertificateAmended)
    assert event.changed == ["scope", "models", "testReports"]
    assert cert.data.models == ("EVAC-22K",)
    assert cert.data.standards == ("GB/T 18487.1-2023", "IEC 61851-1")
    assert cert.test_reports == (TestReportRef("TÜV Rheinland", "CN25ABC-001"),)
    with pytest.raises(InvalidCertificateData):
        cert.amend(
            amendment=Amendment(scope="AC charging piles up to 22 kW"),
            command_id="b",
            now=T0,
            policy=POLICY,
        )


@pytest.mark.parametrize(
    "change",
    [
        {"number": ""},
        {"models": ()},
        {"factories": ("A", "A")},
        {"validity_days": -1},
    ],
)
def test_invalid_certificate_data(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidCertificateData):
        days = change.pop("validity_days", 365)
        base = make_data(until=T0 + timedelta(days=days)) if days > 0 else None
        if base is None:
            ValidityPeriod(T0, T0 + timedelta(days=days))
        else:
            CertificateData(**{**base.__dict__, **change})


def test_issue_rejects_naive_time_and_past_validity() -> None:
    with pytest.raises(InvalidCertificateData):
        Certificate.issue(
            issuer="CQC", data=make_data(), command_id="c", now=T0.replace(tzinfo=None), policy=POLICY
        )
    with pytest.raises(InvalidCertificateData):
        Certificate.issue(issuer="CQC", data=make_data(), command_id="c", now=T0 + YEAR, policy=POLICY)


def test_vocabularies_cover_every_status() -> None:
    for mapping in (OCSP, IAF_CERTSEARCH, CCC):
        assert set(mapping) == set(Status)
    assert OCSP[Status.SUSPENDED].revocation_reason == "certificateHold"
    assert OCSP[Status.VALID].cert_status == "good"
    assert CCC[Status.WITHDRAWN] == "注销"
    assert IAF_CERTSEARCH[Status.EXPIRED] == "Expired"


# -- stateful comparison with a reference model --------------------------------------------


class CertificateMachine(RuleBasedStateMachine):
    """Drive the aggregate and a tiny reference model with the same inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.cert = issued()
        self.status = "valid"
        self.until = (T0 + YEAR).replace(microsecond=0)
        self.n = 0

    def _do(self, allowed: bool, action: Callable[[], None], error: type[Exception]) -> None:
        self.n += 1
        version = self.cert.version
        if allowed:
            action()
            assert self.cert.version == version + 1
        else:
            with pytest.raises(error):
                action()
            assert self.cert.version == version

    @property
    def live(self) -> bool:
        return self.status in ("valid", "suspended")

    @rule(days=st.integers(min_value=0, max_value=200))
    def wait(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def suspend(self) -> None:
        ok = self.status == "valid"
        self._do(
            ok,
            lambda: self.cert.suspend(reason="r", command_id="c", now=self.now, policy=POLICY),
            InvalidTransition,
        )
        if ok:
            self.status = "suspended"

    @rule()
    def reinstate(self) -> None:
        ok = self.status == "suspended"
        self._do(
            ok,
            lambda: self.cert.reinstate(command_id="c", now=self.now, policy=POLICY),
            InvalidTransition,
        )
        if ok:
            self.status = "valid"

    @rule(days=st.integers(min_value=1, max_value=800))
    def renew(self, days: int) -> None:
        in_grace = self.now - self.until <= timedelta(days=90)
        ok = self.live or (self.status == "expired" and in_grace)
        new_until = max(self.now, self.until) + timedelta(days=days)
        error = RenewalGraceExpired if self.status == "expired" else InvalidTransition
        self._do(
            ok,
            lambda: self.cert.renew(
                validity=ValidityPeriod(T0, new_until), command_id="c", now=self.now, policy=POLICY
            ),
            error,
        )
        if ok:
            self.until = new_until.replace(microsecond=0)
            self.status = "valid" if self.status == "expired" else self.status

    @rule()
    def amend(self) -> None:
        models = (f"M-{self.n}",)
        self._do(
            self.live,
            lambda: self.cert.amend(
                amendment=Amendment(models=models), command_id="c", now=self.now, policy=POLICY
            ),
            InvalidTransition,
        )

    @rule(final=st.sampled_from(["revoked", "withdrawn"]))
    def end(self, final: str) -> None:
        ok = self.live
        if final == "revoked":
            action = lambda: self.cert.revoke(  # noqa: E731
                reason="r", command_id="c", now=self.now, policy=POLICY
            )
        else:
            action = lambda: self.cert.withdraw(command_id="c", now=self.now, policy=POLICY)  # noqa: E731
        self._do(ok, action, InvalidTransition)
        if ok:
            self.status = final

    @rule()
    def expire(self) -> None:
        due = self.now >= self.until
        ok = self.live and due
        error = NotYetDue if self.live else InvalidTransition
        self._do(ok, lambda: self.cert.expire(command_id="c", now=self.now), error)
        if ok:
            self.status = "expired"

    @invariant()
    def same_status_and_validity(self) -> None:
        assert self.cert.status.value == self.status
        assert self.cert.data.valid_until == self.until
        assert self.cert.is_due(self.now) == (self.live and self.now >= self.until)

    @invariant()
    def replay_gives_the_same_state(self) -> None:
        events = list(self.cert.pending_events)
        copy: Any = None
        for event in events:
            copy = event.mutate(copy)
        assert copy.status == self.cert.status
        assert copy.data == self.cert.data
        assert copy.version == self.cert.version


CertificateMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestCertificateMachine = CertificateMachine.TestCase
