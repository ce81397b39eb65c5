"""``OrjsonTranscoder`` writes and reads exactly what eventsourcing's ``JSONTranscoder`` does."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.transcoder import OrjsonTranscoder

pytestmark = pytest.mark.unit


def _registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


REFERENCE = _registered(JSONTranscoder())
FAST = _registered(OrjsonTranscoder())

_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.uuids()
    | st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=8))]))
    | st.decimals(allow_nan=False, allow_infinity=False)
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _same_encoding(value: Any) -> None:
    try:
        expected: bytes | type[BaseException] = REFERENCE.encode(value)
    except Exception as e:  # the fast transcoder must fail the same way
        expected = type(e)
    if isinstance(expected, bytes):
        assert FAST.encode(value) == expected
        assert repr(FAST.decode(expected)) == repr(REFERENCE.decode(expected))
    else:
        with pytest.raises(expected):
            FAST.encode(value)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _values, max_size=6))
def test_same_bytes_and_objects_as_eventsourcing(state: dict[str, Any]) -> None:
    _same_encoding(state)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list('\x00\x1f\x7f"\\\u2028\u2029'))))
def test_every_character_is_escaped_alike(text: str) -> None:
    _same_encoding({"s": text, "nested": [text, {"k": text}]})


class _Colour(enum.Enum):
    RED = "red"


class _Name(enum.StrEnum):
    ALICE = "alice"


class _Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**64, "neg": -(2**63) - 1},
        {"nan": float("nan"), "inf": float("-inf")},
        {"non-str keys": {1: "a", None: "b", 2.5: "c", False: "d"}},
        {"lone surrogate": "\ud800"},
        {"str enum": _Name.ALICE, "int enum": _Level.HIGH},
        {"enum": _Colour.RED},
        {"date": date(2024, 1, 1)},
        {"deep": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]},
        {"decimal": Decimal("1.10"), "uuid": uuid4(), "when": datetime(2024, 2, 29, 12, tzinfo=UTC)},
        {"looks transcoded": {"_type_": "x"}, "extra": {"_type_": "uuid_hex", "_data_": "0" * 32, "more": 1}},
    ],
)
def test_edge_cases_follow_eventsourcing(value: dict[str, Any]) -> None:
    _same_encoding(value)


def test_circular_structures_fail_as_before() -> None:
    loop: list[Any] = []
    loop.append(loop)
    _same_encoding({"loop": loop})


def test_unknown_type_names_are_refused_as_before() -> None:
    data = b'{"x":{"_type_":"no-such-type","_data_":1}}'
    with pytest.raises(TranscodingNotRegisteredError):
        FAST.decode(data)


def test_invalid_json_for_orjson_is_read_as_before() -> None:
    for data in (
        b'{"n":NaN}',
        b'{"big":123456789012345678901234567890}',
        b'{"s":"\\ud800"}',
        b'{"a":1,"a":2}',
        b'{"f":[1.5e300,-0.0]}',
    ):
        assert repr(FAST.decode(data)) == repr(REFERENCE.decode(data))


_TYPED = b'{"_type_":"uuid_hex","_data_":"6661472d63755d2d8c40983ac4965713"}'


@pytest.mark.parametrize(
    "data",
    [
        b'{"id":' + _TYPED + b',"c":{"big":123456789012345678901234567890}}',
        b'{"id":' + _TYPED + b',"c":{"n":[18446744073709551616]}}',
        b'{"id":' + _TYPED + b',"c":{"f":1.5,"e":1e-08}}',
        b'{"id":' + _TYPED + b',"c":{"inner":' + _TYPED + b"}}",
        b'{"id":' + _TYPED + b',"k\\"_type_":' + _TYPED + b"}",
        b'{"id":' + _TYPED + b',"k\\"_type_":1}',
        b'{"id": ' + _TYPED + b', "c": {"n": 1}}',
        b'{"id":'
        + _TYPED
        + b',"t":{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05+00:00"},"c":{"a":["x"]}}',
        b'{"_type_":"uuid_hex","_data_":"6661472d63755d2d8c40983ac4965713"}',
        b'{"id":{"_type_":"uuid_hex","_data_":"6661472d63755d2d8c40983ac4965713","x":1},"c":' + _TYPED + b"}",
    ],
)
def test_states_typed_only_in_their_members_are_read_as_before(data: bytes) -> None:
    """Typed member values restored without a walk of the rest; any number, nesting or spacing
    the shortcut cannot vouch for takes the full walk (or the json path)."""
    assert repr(FAST.decode(data)) == repr(REFERENCE.decode(data))


def test_a_state_typed_only_in_its_members_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    """An event's stored state (a timestamp, a nested certificate object): only the typed member is restored."""
    restored: list[Any] = []
    walk = OrjsonTranscoder._restore
    monkeypatch.setattr(OrjsonTranscoder, "_restore", lambda self, o: restored.append(o) or walk(self, o))
    data = b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-03T21:07:08+00:00"},"certificate":{"a":["b",{"c":1}]}}'
    assert FAST.decode(data) == REFERENCE.decode(data)
    assert restored == [{"_type_": "datetime_iso", "_data_": "2026-12-03T21:07:08+00:00"}]


def test_the_application_uses_it_and_reads_what_it_wrote() -> None:
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    assert isinstance(app.mapper.transcoder, OrjsonTranscoder)
    state = {"id": UUID(int=7), "at": datetime(2025, 1, 1, tzinfo=UTC), "nested": {"ids": [UUID(int=8)]}}
    assert app.mapper.transcoder.decode(app.mapper.transcoder.encode(state)) == state
