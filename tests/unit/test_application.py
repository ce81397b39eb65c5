"""CertificateApplication in memory; ``ApplicationContract`` is reused for PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import RecordConflictError

from certlife.contracts.commands import (
    Accepted,
    AmendCertificate,
    Command,
    IssueCertificate,
    ReinstateCertificate,
    Rejected,
    RenewCertificate,
    RevokeCertificate,
    SuspendCertificate,
    WithdrawCertificate,
)
from certlife.domain.certificate import EVENT_NAMES, Certificate
from certlife.domain.errors import CertificateNotFound
from certlife.domain.lifecycle import Status
from certlife.domain.values import LifecyclePolicy
from certlife.services.commands.application import CertificateApplication, Decided

pytestmark = pytest.mark.unit

T0 = datetime(2030, 1, 10, 9, 0, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
POLICY = LifecyclePolicy(max_backdating=timedelta(days=30), renewal_grace=timedelta(days=60))


class ApplicationContract:
    """Behaviour every persistence backend must show; subclasses provide ``env``."""

    @pytest.fixture
    def app(self, env: dict[str, str]) -> Iterator[CertificateApplication]:
        application = CertificateApplication(env=env, policy=POLICY)
        yield application
        application.close()

    @pytest.fixture
    def issuer(self) -> str:
        return f"issuer-{uuid4().hex[:8]}"  # isolates tests on a shared database

    @staticmethod
    def issue_cmd(issuer: str, number: str = "N-1", **kw: Any) -> IssueCertificate:
        fields: dict[str, Any] = {
            "command_id": f"issue-{issuer}-{number}",
            "issuer": issuer,
            "number": number,
            "scheme": "CB",
            "holder": "Example GmbH",
            "manufacturer": "Example GmbH",
            "factories": ["Plant 1, Stuttgart"],
            "product": "EV supply equipment",
            "models": ["WB-22"],
            "standards": ["IEC 61851-1"],
            "scope": "Mode 3 AC wallbox",
            "valid_from": T0,
            "valid_until": T0 + YEAR,
            "test_reports": [{"lab": "VDE", "report_number": "R-1"}],
        }
        fields.update(kw)
        return IssueCertificate(**fields)

    def notifications(self, app: CertificateApplication) -> int:
        return app.recorder.max_notification_id() or 0

    def test_issue_then_get_and_history(self, app: CertificateApplication, issuer: str) -> None:
        outcome = app.issue(self.issue_cmd(issuer), T0)
        assert isinstance(outcome, Accepted)
        assert outcome.certificate_id == str(Certificate.create_id(issuer, "N-1"))
        assert (outcome.number, outcome.version, outcome.event) == ("N-1", 1, "issued")
        cert = app.get_certificate("N-1", issuer)
        assert cert.status == Status.VALID
        assert cert.data.scheme == "CB"
        assert [EVENT_NAMES[type(e)] for e in app.history("N-1", issuer)] == ["issued"]

    def test_same_command_id_twice_returns_same_outcome_and_writes_nothing(
        self, app: CertificateApplication, issuer: str
    ) -> None:
        app.issue(self.issue_cmd(issuer), T0)
        suspend = SuspendCertificate(
            command_id=f"s-{issuer}", issuer=issuer, number="N-1", reason="audit failed"
        )
        first = app.suspend(suspend, T0 + timedelta(days=1))
        position = self.notifications(app)
        again = app.suspend(suspend, T0 + timedelta(days=2))
        assert again == first
        assert self.notifications(app) == position
        assert app.get_certificate("N-1", issuer).version == 2

    def test_rejection_is_stored_and_repeated(self, app: CertificateApplication, issuer: str) -> None:
        app.issue(self.issue_cmd(issuer), T0)
        cmd = ReinstateCertificate(command_id=f"r-{issuer}", issuer=issuer, number="N-1")
        first = app.reinstate(cmd, T0)
        assert isinstance(first, Rejected)
        assert first.code == "invalid-transition"
        assert "valid" in first.message and "reinstated" in first.message
        position = self.notifications(app)
        assert app.reinstate(cmd, T0) == first
        assert self.notifications(app) == position

    def test_unknown_certificate_is_not_found(self, app: CertificateApplication, issuer: str) -> None:
        cmd = RevokeCertificate(command_id=f"x-{issuer}", issuer=issuer, number="nope", reason="r")
        outcome = app.revoke(cmd, T0)
        assert isinstance(outcome, Rejected)
        assert outcome.code == "certificate-not-found"
        with pytest.raises(CertificateNotFound):
            app.get_certificate("nope", issuer)
        with pytest.raises(CertificateNotFound):
            app.history("nope", issuer)

    def test_issuing_twice_with_another_command_is_rejected(
        self, app: CertificateApplication, issuer: str
    ) -> None:
        app.issue(self.issue_cmd(issuer), T0)
        outcome = app.issue(self.issue_cmd(issuer, command_id=f"again-{issuer}"), T0)
        assert isinstance(outcome, Rejected)
        assert outcome.code == "invalid-transition"

    def test_batch_with_several_commands_for_one_certificate(
        self, app: CertificateApplication, issuer: str
    ) -> None:
        p: dict[str, Any] = {"issuer": issuer, "number": "N-1"}
        batch: list[Command] = [
            self.issue_cmd(issuer),
            SuspendCertificate(command_id=f"b1-{issuer}", reason="audit", **p),
            AmendCertificate(command_id=f"b2-{issuer}", models=["WB-11", "WB-22"], **p),
            ReinstateCertificate(command_id=f"b3-{issuer}", **p),
            ReinstateCertificate(command_id=f"b4-{issuer}", **p),
            self.issue_cmd(issuer, "N-2"),
            SuspendCertificate(command_id=f"b1-{issuer}", reason="audit", **p),
            SuspendCertificate(command_id=f"b1-{issuer}", reason="other content", **p),
        ]
        position = self.notifications(app)
        outcomes = app.handle_batch(batch, T0)
        assert [o.command_id for o in outcomes] == [c.command_id for c in batch]
        assert [getattr(o, "event", None) or o.code for o in outcomes] == [  # type: ignore[union-attr]
            "issued",
            "suspended",
            "amended",
            "reinstated",
            "invalid-transition",
            "issued",
            "suspended",
            "command-id-conflict",
        ]
        assert outcomes[6] == outcomes[1]  # duplicate inside the batch: original outcome
        assert isinstance(outcomes[7], Rejected) and "suspended" in outcomes[7].message
        assert [o.version for o in outcomes[:4] if isinstance(o, Accepted)] == [1, 2, 3, 4]
        cert = app.get_certificate("N-1", issuer)
        assert (cert.status, cert.version, cert.data.models) == (Status.VALID, 4, ("WB-11", "WB-22"))
        # 5 certificate events, 6 receipts, 1 bucket opened + 2 scheduled (+ schedule events)
        written = self.notifications(app) - position
        assert written >= 5 + 6 + 3
        assert app.handle_batch(batch, T0) == outcomes
        assert self.notifications(app) - position == written

    def test_batch_is_one_save(self, app: CertificateApplication, issuer: str) -> None:
        calls: list[int] = []
        original = app.recorder.insert_events

        def counting_insert(events: Any, **kw: Any) -> Any:
            calls.append(len(events))
            return original(events, **kw)

        app.recorder.insert_events = counting_insert  # type: ignore[method-assign]
        app.handle_batch([self.issue_cmd(issuer, f"N-{i}") for i in range(5)], T0)
        assert len(calls) == 1
        assert calls[0] >= 10  # each certificate's event and each command's receipt, in the one insert

    def test_backdating_bound(self, app: CertificateApplication, issuer: str) -> None:
        app.issue(self.issue_cmd(issuer), T0)
        now = T0 + timedelta(days=100)
        p: dict[str, Any] = {"issuer": issuer, "number": "N-1", "reason": "r"}
        too_far = app.revoke(
            RevokeCertificate(command_id=f"a-{issuer}", effective_at=now - timedelta(days=31), **p),
            now,
        )
        assert isinstance(too_far, Rejected)
        assert too_far.code == "backdating-too-far"
        future = app.revoke(
            RevokeCertificate(command_id=f"b-{issuer}", effective_at=now + timedelta(hours=1), **p),
            now,
        )
        assert isinstance(future, Rejected)
        assert future.code == "effective-in-future"
        ok = app.revoke(
            RevokeCertificate(command_id=f"c-{issuer}", effective_at=now - timedelta(days=30), **p),
            now,
        )
        assert isinstance(ok, Accepted)
        assert app.history("N-1", issuer)[-1].effective_at == "2030-03-21T09:00:00Z"

    def test_expiry_sweep_and_renewal_grace(self, app: CertificateApplication, issuer: str) -> None:
        app.issue(self.issue_cmd(issuer, "A"), T0)
        app.issue(self.issue_cmd(issuer, "B", valid_until=T0 + 2 * YEAR), T0)
        app.issue(self.issue_cmd(issuer, "C"), T0)
        app.renew(
            RenewCertificate(
                command_id=f"rc-{issuer}",
                issuer=issuer,
                number="C",
                valid_from=T0,
                valid_until=T0 + 3 * YEAR,
            ),
            T0 + timedelta(days=100),
        )
        app.withdraw(
            WithdrawCertificate(command_id=f"w-{issuer}", issuer=issuer, number="B"),
            T0,
        )
        before = app.expire_due(T0 + YEAR - timedelta(seconds=1), command_id=f"e1-{issuer}")
        assert isinstance(before, Accepted)
        assert not {"A", "B", "C"} & set(before.expired or [])
        sweep = app.expire_due(T0 + YEAR + timedelta(days=1), command_id=f"e2-{issuer}")
        assert isinstance(sweep, Accepted)
        assert "A" in (sweep.expired or [])
        assert not {"B", "C"} & set(sweep.expired or [])
        assert app.get_certificate("A", issuer).status == Status.EXPIRED
        assert app.get_certificate("C", issuer).status == Status.VALID
        expired_event = app.history("A", issuer)[-1]
        assert (expired_event.effective_at, expired_event.reason) == (
            "2031-01-10T09:00:00Z",
            "validity period ended",
        )

        def renew(cid: str, now: datetime) -> Any:
            return app.renew(
                RenewCertificate(
                    command_id=cid,
                    issuer=issuer,
                    number="A",
                    valid_from=now,
                    valid_until=now + YEAR,
                ),
                now,
            )

        late = renew(f"late-{issuer}", T0 + YEAR + timedelta(days=61))
        assert isinstance(late, Rejected)
        assert late.code == "renewal-grace-expired"
        ok = renew(f"ok-{issuer}", T0 + YEAR + timedelta(days=59))
        assert isinstance(ok, Accepted)
        assert app.get_certificate("A", issuer).status == Status.VALID

    def test_expiry_sweep_honours_limit(self, app: CertificateApplication, issuer: str) -> None:
        app.expire_due(T0 + YEAR, command_id=f"clear-{issuer}")  # leftovers of other tests
        until = T0 + YEAR + timedelta(days=7)
        app.handle_batch([self.issue_cmd(issuer, f"L-{i}", valid_until=until) for i in range(3)], T0)
        when = until + timedelta(days=1)
        first = app.expire_due(when, limit=2, command_id=f"l-{issuer}")
        assert isinstance(first, Accepted)
        assert len(first.expired or []) == 2
        for i in range(10):
            sweep = app.expire_due(when, limit=2, command_id=f"l{i}-{issuer}")
            assert isinstance(sweep, Accepted)
            if not sweep.expired:
                break
        statuses = {app.get_certificate(f"L-{i}", issuer).status for i in range(3)}
        assert statuses == {Status.EXPIRED}

    def test_concurrent_duplicate_loses_on_the_receipt(
        self, app: CertificateApplication, issuer: str
    ) -> None:
        app.issue(self.issue_cmd(issuer), T0)
        cmd = SuspendCertificate(command_id=f"s-{issuer}", issuer=issuer, number="N-1", reason="a")
        original = app.commit
        competitor: list[Any] = []

        def racing_commit(decided: Decided) -> None:
            if not competitor:  # another worker commits the same command first
                app.commit = original  # type: ignore[method-assign]
                competitor.append(app.suspend(cmd, T0 + timedelta(days=3)))
                app.commit = racing_commit  # type: ignore[method-assign]
            original(decided)

        app.commit = racing_commit  # type: ignore[method-assign]
        outcome = app.suspend(cmd, T0 + timedelta(days=1))
        assert outcome == competitor[0]
        assert len(app.history("N-1", issuer)) == 2
        assert app.history("N-1", issuer)[-1].recorded_at == "2030-01-13T09:00:00Z"

    def test_batch_conflict_falls_back_to_one_at_a_time(
        self, app: CertificateApplication, issuer: str
    ) -> None:
        app.issue(self.issue_cmd(issuer), T0)
        original = app.commit
        batch_saves: list[int] = []

        def conflicting_commit(decided: Decided) -> None:
            receipts = sum(1 for a in decided.aggregates if type(a).__name__ == "CommandReceipt")
            if receipts > 1:  # every whole-batch save conflicts
                batch_saves.append(receipts)
                raise RecordConflictError("simulated conflict")
            original(decided)

        app.commit = conflicting_commit  # type: ignore[method-assign]
        p: dict[str, Any] = {"issuer": issuer, "number": "N-1"}
        outcomes = app.handle_batch(
            [
                SuspendCertificate(command_id=f"1-{issuer}", reason="a", **p),
                ReinstateCertificate(command_id=f"2-{issuer}", **p),
            ],
            T0,
        )
        assert batch_saves == [2, 2]
        assert [o.event for o in outcomes if isinstance(o, Accepted)] == ["suspended", "reinstated"]
        assert app.get_certificate("N-1", issuer).version == 3

    def test_persistent_conflict_is_bounded(self, app: CertificateApplication, issuer: str) -> None:
        attempts: list[int] = []

        def always_conflicts(decided: Decided) -> None:
            attempts.append(1)
            raise RecordConflictError("simulated conflict")

        app.commit = always_conflicts  # type: ignore[method-assign]
        with pytest.raises(RecordConflictError):
            app.issue(self.issue_cmd(issuer), T0)
        assert len(attempts) == app.max_attempts

    def test_a_batch_decided_on_an_unstored_one_builds_on_it(
        self, app: CertificateApplication, issuer: str
    ) -> None:
        issue = self.issue_cmd(issuer)
        first = app.decide_batch([issue, self.issue_cmd(issuer, "N-2")], T0, [None, None])
        assert list(app.events.get(Certificate.create_id(issuer, "N-1"))) == []  # nothing stored yet
        app._cache.clear()  # as if evicted: the earlier batch's objects come through ``ahead`` alone
        suspend = SuspendCertificate(command_id=f"s-{issuer}", issuer=issuer, number="N-1", reason="a")
        second = app.decide_batch([suspend, issue], T0 + timedelta(hours=1), [None, None], ahead=first)
        assert second.outcomes[0] == Accepted(
            command_id=suspend.command_id,
            certificate_id=str(Certificate.create_id(issuer, "N-1")),
            number="N-1",
            version=2,
            event="suspended",
        )
        assert second.outcomes[1] == first.outcomes[0]  # the repeated command: its first outcome
        assert len(second.stored_events) == 2  # the suspension and its receipt; no second receipt
        app.commit(first)
        app.commit(second)
        assert [e.status for e in app.history("N-1", issuer)] == ["valid", "suspended"]
        assert app.handle(issue, T0 + timedelta(hours=2)) == first.outcomes[0]

    def test_without_ahead_a_batch_sees_only_what_is_stored(
        self, app: CertificateApplication, issuer: str
    ) -> None:
        app.decide_batch([self.issue_cmd(issuer)], T0, [None])  # decided, never stored
        app.forget()
        suspend = SuspendCertificate(command_id=f"s-{issuer}", issuer=issuer, number="N-1", reason="a")
        outcome = app.decide_batch([suspend], T0, [None]).outcomes[0]
        assert isinstance(outcome, Rejected)
        assert outcome.code == "certificate-not-found"

    def test_review_date_travels_to_the_event(self, app: CertificateApplication, issuer: str) -> None:
        app.issue(self.issue_cmd(issuer), T0)
        app.suspend(
            SuspendCertificate(
                command_id=f"s-{issuer}",
                issuer=issuer,
                number="N-1",
                reason="r",
                review_date=date(2030, 2, 1),
            ),
            T0,
        )
        event = app.history("N-1", issuer)[-1]
        assert isinstance(event, Certificate.CertificateSuspended)
        assert event.review_date == "2030-02-01"


class TestApplicationInMemory(ApplicationContract):
    """The contract on eventsourcing's in-memory (POPO) persistence."""

    @pytest.fixture
    def env(self) -> dict[str, str]:
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}

    def test_default_issuer_comes_from_configuration(self) -> None:
        app = CertificateApplication(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo", "CERTLIFE_ISSUER": "CQC"}
        )
        app.issue(self.issue_cmd("CQC"), T0)
        assert app.get_certificate("N-1").data.number == "N-1"
        with pytest.raises(ValueError, match="CERTLIFE_ISSUER"):
            CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).history("N-1")
