"""The command digest's fast path gives exactly the bytes of the original ``json.dumps`` form.

Receipts store the digest; a re-send is compared against it, so the digest of a
command must never change between releases.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certlife.contracts.commands import _digest_body, command_digest, parse_command

pytestmark = pytest.mark.unit

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _reference(content: Any) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _VALUES, max_size=6))
def test_the_digest_input_equals_the_json_form(content: dict[str, Any]) -> None:
    assert _digest_body(content) == _reference(content)


def test_a_known_command_keeps_its_digest() -> None:
    raw = {
        "type": "suspend", "commandId": "c-1", "issuer": "cqc.example", "number": "CQC-0001",
        "reason": "Prüfung läuft: 监督抽查",
    }  # fmt: skip
    command = parse_command(json.dumps(raw).encode())
    expected = hashlib.sha256(_reference(command.model_dump(mode="json", by_alias=True))).hexdigest()
    assert command_digest(command) == expected
    ascii_only = parse_command(json.dumps({**raw, "reason": "audit"}).encode())
    assert (
        command_digest(ascii_only)
        == hashlib.sha256(_reference(ascii_only.model_dump(mode="json", by_alias=True))).hexdigest()
    )


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_takes_the_same_form(code: int) -> None:
    """Each ASCII character, as key and value, gives json's bytes (DEL is escaped by json only)."""
    content = {chr(code): chr(code), "k": [chr(code) * 2]}
    assert _digest_body(content) == _reference(content)


@pytest.mark.parametrize(
    "text",
    [
        "é", "\u00ff\u0080", "\x7f", "中文", "\U0001f600", "a\\xe9b", "\\U0001f600", "\\\\x41",
        "\\\"é\"\\", "\U00010000\uffff\U0010ffff", "tab\tthen é", "\u2028\u2029",
    ],
)  # fmt: skip
def test_characters_past_tilde_take_jsons_escapes(text: str) -> None:
    """Non-ASCII text (narrow, BMP, astral), DEL, and text that spells escapes itself."""
    content = {text: [text, {"k": text}], "plain": "x"}
    assert _digest_body(content) == _reference(content)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_any_text_takes_jsons_escapes(text: str) -> None:
    assert _digest_body({"k": text, text: 1}) == _reference({"k": text, text: 1})
