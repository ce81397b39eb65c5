"""RFC 8785 canonical JSON: published vectors, I-JSON limits, fast path vs rfc8785."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from certlife.contracts.canonical import (
    _SORT,
    MAX_SAFE_INTEGER,
    _fast_path_safe,
    canonical_bytes,
    parse_canonical,
)
from certlife.contracts.errors import CanonicalError

pytestmark = pytest.mark.unit

JCS = Path(__file__).parents[1] / "vectors" / "jcs"
CASES = sorted(p.stem for p in (JCS / "input").glob("*.json"))
# Cases whose input holds no JSON floats ("structures" writes 56 as 56.0 and
# "values" has real fractions; both are outside the project's I-JSON subset).
INTEGER_ONLY = {"arrays", "french", "unicode", "weird"}


def test_all_six_vector_cases_present() -> None:
    assert CASES == ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize("case", CASES)
def test_vector_output_matches_outhex_and_rfc8785(case: str) -> None:
    expected = (JCS / "output" / f"{case}.json").read_bytes()
    outhex = bytes.fromhex((JCS / "outhex" / f"{case}.txt").read_text())
    assert expected == outhex
    assert rfc8785.dumps(json.loads((JCS / "input" / f"{case}.json").read_bytes())) == expected


@pytest.mark.parametrize("case", sorted(INTEGER_ONLY))
def test_vectors_through_our_encoder_and_parser(case: str) -> None:
    value = json.loads((JCS / "input" / f"{case}.json").read_bytes())
    expected = (JCS / "output" / f"{case}.json").read_bytes()
    assert canonical_bytes(value) == expected
    if expected.startswith(b"{"):
        assert parse_canonical(expected) == json.loads(expected)
    else:
        with pytest.raises(CanonicalError, match="not a JSON object"):
            parse_canonical(expected)


@pytest.mark.parametrize("case", sorted(set(CASES) - {"values"}))
def test_vector_outputs_are_fixed_points(case: str) -> None:
    expected = (JCS / "output" / f"{case}.json").read_bytes()
    assert canonical_bytes(json.loads(expected)) == expected


def test_structures_input_float_is_rejected_even_if_integral() -> None:
    value = json.loads((JCS / "input" / "structures.json").read_bytes())
    with pytest.raises(CanonicalError, match=r"56\.0"):
        canonical_bytes(value)
    assert parse_canonical((JCS / "output" / "structures.json").read_bytes())["1"]["\n"] == 56


def test_values_vector_is_rejected_because_it_has_floats() -> None:
    value = json.loads((JCS / "input" / "values.json").read_bytes())
    with pytest.raises(CanonicalError, match="floating point"):
        canonical_bytes(value)
    with pytest.raises(CanonicalError):
        parse_canonical((JCS / "output" / "values.json").read_bytes())


def test_every_ascii_character_escapes_like_jcs() -> None:
    text = "".join(chr(i) for i in range(128)) + "\u2028\u2029\ufeff\u00e9\U0001f600"
    assert canonical_bytes({"k": text}) == rfc8785.dumps({"k": text})


def test_supplementary_keys_sort_by_utf16_code_units() -> None:
    value = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    encoded = canonical_bytes(value)
    assert encoded == rfc8785.dumps(value)
    assert encoded.index("\U0001f600".encode()) < encoded.index("\ue000".encode())
    assert parse_canonical(encoded) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1.0}, "floating point"),
        ({"a": MAX_SAFE_INTEGER + 1}, "outside"),
        ({"a": -MAX_SAFE_INTEGER - 1}, "outside"),
        ({1: "a"}, "not a string"),
        ({"a": "\ud800"}, "cannot encode"),
        ({"a": b"bytes"}, "not a JSON type"),
        ({"a": {1, 2}}, "not a JSON type"),
    ],
)
def test_non_i_json_values_are_rejected(value: object, message: str) -> None:
    with pytest.raises(CanonicalError, match=message):
        canonical_bytes(value)


def test_safe_integer_limits_are_accepted() -> None:
    value = {"max": MAX_SAFE_INTEGER, "min": -MAX_SAFE_INTEGER, "t": True, "n": None}
    encoded = canonical_bytes(value)
    assert encoded == b'{"max":9007199254740991,"min":-9007199254740991,"n":null,"t":true}'
    assert parse_canonical(encoded) == value


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',  # unsorted
        b'{"a": 1}',  # whitespace
        b'{"a":1}\n',  # trailing newline
        b'{"a":1,"a":1}',  # duplicate member
        b'{"a":"\\u0041"}',  # needless escape
        b'{"a":"\\/"}',  # needless escape
        b'{"a":1.0}',  # float
        b'{"a":1e3}',  # float
        b'{"a":9007199254740992}',  # unsafe integer
        b'{"a":-9007199254740992}',  # unsafe integer
        b'{"a":[1,2.5]}',  # float after a comma
        b'{"a":[-1.5]}',  # float after a bracket
        b'{"a":[1e+16]}',  # exponent float
        b'{"a":123456789012345678901234567890}',  # huge integer
        b'{"a":"\\ud800"}',  # lone surrogate
        b'{"\\ue000":1,"\xf0\x9f\x98\x80":2}',  # UTF-8 order instead of UTF-16
        b"[1]",  # not an object
        b'{"a":1',  # not JSON
        b'\xef\xbb\xbf{"a":1}',  # BOM
        b'{"a":"\xff"}',  # invalid UTF-8
    ],
)
def test_parse_rejects_non_canonical_bytes(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        parse_canonical(data)


def test_parse_accepts_risky_looking_strings_through_slow_path() -> None:
    text = "at 12:00.5 and ,1234567890123456 and \U0001f600"
    data = canonical_bytes({"v": text})
    assert not _fast_path_safe(data)
    assert parse_canonical(data) == {"v": text}


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    return isinstance(value, list) and any(_has_float(v) for v in value)


_json_with_floats = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json_with_floats)
def test_fast_path_guard_sees_floats_unsafe_integers_and_supplementary(value: Any) -> None:
    """The guard's premise: orjson never prints a float or unsafe int it cannot see."""
    encoded = orjson.dumps({"k": value}, option=orjson.OPT_SORT_KEYS)
    parsed = orjson.loads(encoded)
    if _has_float(parsed):
        assert not _fast_path_safe(encoded)
    if not _all_safe(parsed):
        with pytest.raises(orjson.JSONEncodeError):
            orjson.dumps(parsed, option=_SORT)
    if any(ord(c) > 0xFFFF for c in encoded.decode()):
        assert not _fast_path_safe(encoded)


def _all_safe(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= MAX_SAFE_INTEGER
    if isinstance(value, dict):
        return all(_all_safe(v) for v in value.values())
    return not isinstance(value, list) or all(_all_safe(v) for v in value)


_keys = st.text(max_size=8)
_ijson = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_keys, _ijson, max_size=6))
def test_fast_path_equals_rfc8785_on_random_i_json(value: dict[str, Any]) -> None:
    expected = rfc8785.dumps(value)
    assert canonical_bytes(value) == expected
    assert parse_canonical(expected) == value


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet=st.characters(min_codepoint=0xE000), max_size=3), _ijson))
def test_high_plane_keys_equal_rfc8785(value: dict[str, Any]) -> None:
    expected = rfc8785.dumps(value)
    assert canonical_bytes(value) == expected
    assert parse_canonical(expected) == value
