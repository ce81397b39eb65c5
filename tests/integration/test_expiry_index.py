"""The cached expiry index stays correct with two writers and after a failed batch."""

from __future__ import annotations

from uuid import uuid4

import pytest

from certlife.domain.certificate import Certificate
from certlife.domain.expiry import ExpiryBucket
from certlife.services.commands.application import CertificateApplication
from tests.unit.test_application import POLICY, T0, YEAR, ApplicationContract

pytestmark = pytest.mark.integration


def test_two_writers_share_one_bucket_and_the_sweep_sees_all(pg_env: dict[str, str]) -> None:
    issuer = f"issuer-{uuid4().hex[:8]}"
    first = CertificateApplication(env=pg_env, policy=POLICY)
    second = CertificateApplication(env=pg_env, policy=POLICY)
    try:
        # Same validUntil day for all: every issue appends to the same ExpiryBucket.
        for i, app in enumerate([first, second, first, second, first]):
            outcome = app.handle(ApplicationContract.issue_cmd(issuer, f"E-{i}"), T0)
            assert outcome.status == "accepted", outcome  # a stale cached bucket would conflict here
        bucket_id = ExpiryBucket.create_id((T0 + YEAR).date().isoformat())
        bucket = first.repository.get(bucket_id)
        assert len(bucket.certificate_ids) == 5
        swept = second.expire_due(T0 + YEAR + YEAR / 365)
        assert swept.status == "accepted"
        assert sorted(swept.expired or []) == [f"E-{i}" for i in range(5)]
        for i in range(5):
            cert = first.repository.get(Certificate.create_id(issuer, f"E-{i}"))
            assert cert.status == "expired"
    finally:
        first.close()
        second.close()


def test_a_failed_batch_leaves_no_unsaved_change_in_the_cache(pg_env: dict[str, str]) -> None:
    issuer = f"issuer-{uuid4().hex[:8]}"
    app = CertificateApplication(env=pg_env, policy=POLICY)
    try:
        assert app.handle(ApplicationContract.issue_cmd(issuer, "F-0"), T0).status == "accepted"
        recorder = app.recorder
        insert = recorder.insert_events

        def fail_once(*args: object, **kwargs: object) -> None:
            recorder.insert_events = insert  # type: ignore[method-assign]
            raise RuntimeError("database went away")  # after the events were collected

        recorder.insert_events = fail_once  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            app.handle(ApplicationContract.issue_cmd(issuer, "F-1"), T0)
        # The retry must not see F-1 as already scheduled from the failed attempt.
        assert app.handle(ApplicationContract.issue_cmd(issuer, "F-1"), T0).status == "accepted"
        bucket = app.repository.get(ExpiryBucket.create_id((T0 + YEAR).date().isoformat()))
        assert {app.repository.get(c).data.number for c in bucket.certificate_ids} >= {"F-0", "F-1"}
    finally:
        app.close()
