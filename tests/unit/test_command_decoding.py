"""Commands are decoded through orjson only when that gives the strict decoder's exact object.

The strict decoder (``json`` with a duplicate-member check) is the reference:
for every message, ``_decode_command`` returns what it returns, or raises where it raises.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certlife.contracts.commands import _DECODER, CommandError, _decode_command, parse_command

pytestmark = pytest.mark.unit

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=14,
)


def _strict(raw: bytes) -> Any:
    return _DECODER.decode(raw.decode("utf-8"))


def _same_outcome(raw: bytes) -> None:
    try:
        expected: Any = ("ok", _strict(raw))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        expected = ("error", type(exc))
    try:
        got: Any = ("ok", _decode_command(raw))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        got = ("error", type(exc))
    if expected[0] == "ok" and got[0] == "ok":
        # NaN is not equal to itself: compare the json forms, and the key order too.
        assert json.dumps(got[1]) == json.dumps(expected[1])
    else:
        assert got == expected


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _VALUES, max_size=6))
def test_every_encoding_of_an_object_decodes_as_the_strict_decoder_does(content: dict[str, Any]) -> None:
    spaced, compact = json.dumps(content, ensure_ascii=False), json.dumps(content, separators=(",", ":"))
    forms = [json.dumps(content).encode(), spaced.encode("utf-8", "surrogatepass"), compact.encode()]
    with contextlib.suppress(orjson.JSONEncodeError, TypeError):  # lone surrogates, big integers
        forms.append(orjson.dumps(content))
    for raw in forms:
        _same_outcome(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":1}', b'{"a":1,"a":2}', b'{"a":{"b":1,"b":1}}', b'[{"x":[],"x":[]}]', b'{"a":1, "a":1}',
        b'{"a":"\\u00e9"}', b'{"a":"\\/"}', b'{"a":-0}', b'{"a":-0.0}', b'{"a":1e5}', b'{"a":NaN}',
        b'{"a":100000000000000000000}', b'{"a":"\\ud800"}', b'\xef\xbb\xbf{"a":1}', b'{"a":"\xff"}',
        b'{"a":"\x01"}', b"[" * 300 + b"]" * 300, b"[" * 2000 + b"]" * 2000, b"", b"1", b'"s"',
    ],
)  # fmt: skip
def test_edge_messages_decode_as_the_strict_decoder_does(raw: bytes) -> None:
    _same_outcome(raw)


def test_a_compact_command_with_a_repeated_member_is_refused() -> None:
    """orjson would keep the last member; the message is refused as malformed, as before."""
    raw = (
        b'{"type":"suspend","commandId":"c-1","issuer":"i.example","number":"N-1","reason":"a","reason":"a"}'
    )
    with pytest.raises(CommandError) as caught:
        parse_command(raw)
    assert caught.value.code == "malformed-json"
    assert "duplicate member name" in str(caught.value)
    assert caught.value.command_id == "c-1"


def test_a_compact_command_does_not_need_the_strict_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common case (orjson's own compact form) is read by orjson alone; a spaced one is not."""
    import certlife.contracts.commands as commands

    class Refusing:
        def decode(self, text: str) -> Any:
            raise AssertionError("the strict decoder was used")

    monkeypatch.setattr(commands, "_DECODER", Refusing())
    body = {"type": "suspend", "commandId": "c-2", "issuer": "i.example", "number": "N-2", "reason": "审核"}
    assert parse_command(orjson.dumps(body)).command_id == "c-2"
    with pytest.raises(AssertionError, match="strict decoder"):
        parse_command(json.dumps(body).encode())
