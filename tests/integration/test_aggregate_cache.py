"""Certificates cached between batches stay correct with two writers and after a failed batch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from certlife.contracts.commands import ReinstateCertificate, RevokeCertificate, SuspendCertificate
from certlife.domain.certificate import Certificate
from certlife.domain.values import CertificateData, ValidityPeriod
from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.preload import AggregateCache
from tests.unit.test_application import POLICY, T0, ApplicationContract

pytestmark = pytest.mark.integration


def _suspend(issuer: str, number: str, cid: str) -> SuspendCertificate:
    return SuspendCertificate(command_id=cid, issuer=issuer, number=number, reason="audit")


def test_a_cached_certificate_sees_another_writers_events(pg_env: dict[str, str]) -> None:
    issuer = f"issuer-{uuid4().hex[:8]}"
    first = CertificateApplication(env=pg_env, policy=POLICY)
    second = CertificateApplication(env=pg_env, policy=POLICY)
    try:
        batch = [ApplicationContract.issue_cmd(issuer, "C-0"), ApplicationContract.issue_cmd(issuer, "C-1")]
        assert [o.status for o in first.handle_batch(batch, T0)] == ["accepted", "accepted"]
        # The other writer suspends C-0 behind the first one's cache.
        assert second.handle(_suspend(issuer, "C-0", "s-0"), T0 + timedelta(hours=1)).status == "accepted"
        later = T0 + timedelta(hours=2)
        outcomes = first.handle_batch(
            [
                ReinstateCertificate(command_id="r-0", issuer=issuer, number="C-0"),  # needs the suspension
                _suspend(issuer, "C-1", "s-1"),
            ],
            later,
        )
        assert [(o.status, getattr(o, "version", None)) for o in outcomes] == [
            ("accepted", 3),
            ("accepted", 2),
        ]
        assert [e.status for e in first.history("C-0", issuer)] == ["valid", "suspended", "valid"]
    finally:
        first.close()
        second.close()


def test_a_failed_batch_keeps_no_changed_certificate(pg_env: dict[str, str]) -> None:
    issuer = f"issuer-{uuid4().hex[:8]}"
    app = CertificateApplication(env=pg_env, policy=POLICY)
    try:
        issue = ApplicationContract.issue_cmd(issuer, "F-0")
        assert [o.status for o in app.handle_batch([issue, _suspend(issuer, "F-0", "s-0")], T0)] == [
            "accepted",
            "accepted",
        ]
        recorder = app.recorder
        insert = recorder.insert_events

        def fail_once(*args: Any, **kwargs: Any) -> None:
            recorder.insert_events = insert  # type: ignore[method-assign]
            raise RuntimeError("database went away")  # after the certificate was changed

        recorder.insert_events = fail_once  # type: ignore[method-assign]
        revoke = RevokeCertificate(command_id="v-0", issuer=issuer, number="F-0", reason="fraud")
        with pytest.raises(RuntimeError):
            app.handle_batch([revoke, _suspend(issuer, "F-0", "s-1")], T0)
        # Not revoked: reinstating the suspension is still possible.
        reinstate = ReinstateCertificate(command_id="r-0", issuer=issuer, number="F-0")
        assert app.handle_batch([reinstate, revoke], T0)[0].status == "accepted"
        assert [e.status for e in app.history("F-0", issuer)] == ["valid", "suspended", "valid", "revoked"]
    finally:
        app.close()


def _data(n: int) -> CertificateData:
    return CertificateData(
        number=f"B-{n}",
        scheme="CB",
        holder="Example GmbH",
        manufacturer="Example GmbH",
        factories=("Plant 1",),
        product="EV supply equipment",
        models=("WB-22",),
        standards=("IEC 61851-1",),
        scope="Mode 3 AC wallbox",
        validity=ValidityPeriod(T0, T0 + timedelta(days=365)),
    )


def test_the_cache_is_bounded_and_hands_an_aggregate_out_once() -> None:
    cache = AggregateCache(size=2)
    certificates = [
        Certificate.issue(
            issuer="i",
            data=_data(n),
            command_id=f"c-{n}",
            now=T0,
            policy=POLICY,
        )
        for n in range(3)
    ]
    cache.keep(certificates)
    assert cache.take(certificates[0].id) is None  # the least recently kept went first
    assert cache.take(certificates[2].id) is certificates[2]
    assert cache.take(certificates[2].id) is None  # taken: a second batch loads its own


def test_preload_reads_exactly_the_newer_events(pg_env: dict[str, str]) -> None:
    """The per-aggregate probe returns exactly the events newer than each given version, in order,
    and nothing for an aggregate that does not exist."""
    from certlife.services.commands import preload

    issuer = f"issuer-{uuid4().hex[:8]}"
    app = CertificateApplication(env=pg_env, policy=POLICY)
    try:
        app.handle_batch([ApplicationContract.issue_cmd(issuer, f"C-{i}") for i in range(3)], T0)
        app.handle(_suspend(issuer, "C-0", "s-0"), T0 + timedelta(hours=1))
        ids = [Certificate.create_id(issuer, f"C-{i}") for i in range(3)]
        found = preload.newer_events(app, {ids[0]: 1, ids[1]: 0, ids[2]: 1, uuid4(): 0})
        assert found is not None
        assert {k: [e.originator_version for e in v] for k, v in found.items()} == {ids[0]: [2], ids[1]: [1]}
    finally:
        app.close()
