"""Events triggered by the domain adopt the data they were built from, exactly as a replay would."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from certlife.domain.certificate import Certificate
from certlife.domain.errors import InvalidCertificateData
from certlife.domain.values import Amendment, CertificateData, LifecyclePolicy, ValidityPeriod

pytestmark = pytest.mark.unit

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
POLICY = LifecyclePolicy()


def _data(valid_from: datetime = NOW - timedelta(days=1)) -> CertificateData:
    return CertificateData(
        number="CQC-2030-000123",
        scheme="CQC",
        holder="Holder 有限公司",
        manufacturer="Maker",
        factories=("Plant A",),
        product="Charger",
        models=("M-1", "M-2"),
        standards=("IEC 61851-1",),
        scope="DC charging",
        validity=ValidityPeriod(valid_from, NOW + timedelta(days=365)),
    )


def _replayed(cert: Certificate) -> Certificate:
    """The certificate rebuilt from copies of its events (new dicts, as read from a store)."""
    replay = None
    for event in copy.deepcopy(cert.collect_events()):
        replay = event.mutate(replay)
    assert isinstance(replay, Certificate)
    return replay


def test_triggered_events_leave_the_state_a_replay_builds() -> None:
    cert = Certificate.issue(issuer="cqc.example", data=_data(), command_id="c-1", now=NOW, policy=POLICY)
    cert.amend(amendment=Amendment(models=("M-3",)), command_id="c-2", now=NOW, policy=POLICY)
    cert.renew(
        validity=ValidityPeriod(NOW, NOW + timedelta(days=800)), command_id="c-3", now=NOW, policy=POLICY
    )
    data = cert.data
    assert data == CertificateData.from_public(data.to_public())
    replay = _replayed(cert)
    assert (replay.data, replay.status, replay.status_effective_at) == (
        data,
        cert.status,
        cert.status_effective_at,
    )


def test_a_validity_that_does_not_read_back_is_refused_as_before() -> None:
    # Years before 1000 are written without padding and cannot be read back.
    with pytest.raises(InvalidCertificateData, match="RFC 3339"):
        Certificate.issue(
            issuer="cqc.example",
            data=_data(valid_from=datetime(999, 1, 1, tzinfo=UTC)),
            command_id="c-1",
            now=NOW,
            policy=POLICY,
        )
