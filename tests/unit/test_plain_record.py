"""``plain_certificate_record`` is a fast pre-check: it may say "not sure", never "fine" wrongly.

The compact verification path trusts it instead of running ``check_record``,
so whenever it returns True, ``check_record`` must accept the same object.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certlife.contracts.errors import ContractError
from certlife.contracts.record_checks import check_record, plain_certificate_record
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _records() -> tuple[dict[str, Any], dict[str, Any]]:
    b = LogBuilder()
    first = orjson.loads(b.add("C-1", "issued", "valid"))
    second = orjson.loads(b.add("C-1", "suspended", "suspended", reason="audit"))
    return first, second


FIRST, SECOND = _records()
TOP = sorted(k for k in FIRST if k != "certificate")
CERT = sorted(FIRST["certificate"])
ODD_VALUES = st.sampled_from(
    [None, "", "-", "\n", 0, 1, -1, 2**60, 1.5, True, [], ["x"], {}, "a\nb", "0" * 63, "0" * 64, "f" * 16,
     "2026-02-29T00:00:00Z", "2026-01-01T00:00:00Z\n", "2026-01-01", "2026-13-01T00:00:00Z",
     "A" * 86 + "==", "A" * 85 + "B==", "issued", "valid", "certlife.example/log"]
)  # fmt: skip


def _accepted(obj: dict[str, Any]) -> bool:
    try:
        check_record(obj)
    except ContractError:
        return False
    return True


def test_real_records_are_plain() -> None:
    assert plain_certificate_record(FIRST) and plain_certificate_record(SECOND)


@pytest.mark.parametrize(
    ("base", "member", "value"),
    [
        (SECOND, "prev", "-"),
        (SECOND, "prev", None),
        (FIRST, "prev", "0" * 64),
        (SECOND, "prev", "0" * 63 + "\n"),
        (SECOND, "keyId", "0123456789abcde\n"),
        (SECOND, "origin", "certlife.example/log\n2026-01-01"),
        (SECOND, "recordedAt", "2026-01-01T00:00:00Z\n2026-01-01T00:00:00Z"),
        (SECOND, "sig", "A" * 85 + "B=="),
    ],
)
def test_malformed_values_are_not_plain(base: dict[str, Any], member: str, value: Any) -> None:
    obj = copy.deepcopy(base)
    obj[member] = value
    assert not plain_certificate_record(obj)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(
    base=st.sampled_from([FIRST, SECOND]),
    top=st.dictionaries(st.sampled_from(TOP), ODD_VALUES, max_size=3),
    cert=st.dictionaries(st.sampled_from(CERT), ODD_VALUES, max_size=2),
)
def test_plain_implies_accepted(base: dict[str, Any], top: dict[str, Any], cert: dict[str, Any]) -> None:
    obj = copy.deepcopy(base)
    obj.update(top)
    obj["certificate"].update(cert)
    if plain_certificate_record(obj):
        assert _accepted(obj)


@pytest.mark.parametrize("member", ["event", "status"])
@pytest.mark.parametrize("value", [[], {}, ["issued"]])
def test_unhashable_event_or_status_is_a_format_error(member: str, value: Any) -> None:
    """A list or object where a name belongs is a record-format error, not a crash."""
    obj = copy.deepcopy(SECOND)
    obj[member] = value
    assert not plain_certificate_record(obj)
    with pytest.raises(ContractError) as caught:
        check_record(obj)
    assert caught.value.code == "record-format" and member in str(caught.value)
