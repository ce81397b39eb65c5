"""Instants in the domain: UTC, whole seconds, one wire form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certlife.domain.errors import InvalidCertificateData
from certlife.domain.values import format_instant, instant, parse_instant

pytestmark = pytest.mark.unit

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES))
def test_format_and_instant_match_the_plain_definition(moment: datetime) -> None:
    """Whatever fast path they take, they equal "to UTC, drop sub-seconds, strftime"."""
    utc = moment.astimezone(UTC).replace(microsecond=0)
    assert instant(moment) == utc and instant(moment).tzinfo is UTC
    assert format_instant(moment) == utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    if utc.year >= 1000:
        assert parse_instant(format_instant(moment)) == utc


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidCertificateData, match="no time zone"):
        instant(datetime(2025, 1, 1))
