"""The byte-level recogniser of plain records may say "not sure", never "fine" wrongly.

``compact_facts`` (``certlife.contracts.verification.plain``) accepts a record
by matching its bytes against the JCS encoding of a plain certificate record,
without parsing it. Whenever it returns facts, the full path (``record_facts``:
``parse_record``, ``check_record``) must accept the same bytes and derive the
same facts; and ``runs_for_chunk`` (what the workers run) must say what
``group_runs(batch_for_chunk(...))`` says.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certlife.contracts.canonical import canonical_bytes, parse_canonical
from certlife.contracts.records import signing_input
from certlife.contracts.verification.facts import (
    RecordFacts,
    batch_for_chunk,
    group_runs,
    record_facts,
    runs_for_chunk,
)
from certlife.contracts.verification.plain import compact_facts, plain_record_patterns
from tests.unit.logbuilder import ORIGIN, LogBuilder

pytestmark = pytest.mark.unit

BUILDER = LogBuilder()
KEYS = {BUILDER.signer.key_id: BUILDER.signer.public_raw}
#: Characters that stress the string rules: quotes, backslashes, every escape, DEL, U+2028,
#: non-ASCII, a supplementary character, plus plain letters.
TEXT = st.text(
    st.sampled_from(['"', "\\", "\b", "\t", "\n", "\f", "\r", "\x00", "\x1f", "\x7f", "\u2028", "é", "°",
                     "\U0001f600", "/", "a", "Z", " ", "0"]),
    max_size=6,
)  # fmt: skip


def _facts_of(compact: tuple[Any, ...]) -> tuple[Any, ...]:
    position, index, key_id, sig_ok, number, event, status, seq, prev, recorded, effective, leaf, digest = (
        compact
    )
    return (position, None, index, "certificate", ORIGIN, key_id, sig_ok, number, event, status, seq, prev,
            recorded, effective, leaf, digest, None)  # fmt: skip


def check(raw: bytes) -> bool:
    """Compare the recogniser with the full path on ``raw`` (both signature modes); True if it took it."""
    taken = False
    for check_signature in (True, False):
        compact = compact_facts(1, raw, KEYS, check_signature, ORIGIN)
        if compact is None:
            continue
        full = record_facts(1, raw, KEYS, check_signature)
        assert full.error is None, full.error
        assert tuple(full) == _facts_of(compact)
        taken = True
    lines = [(1, raw), (2, raw)]
    for check_signature in (True, False):
        chunk = (lines, KEYS, check_signature, ORIGIN)
        assert runs_for_chunk(chunk) == group_runs(batch_for_chunk(chunk))
    return taken


def _record(fields: dict[str, Any], reason: str | None, seq: int) -> bytes:
    """A validly signed record with the certificate ``fields`` and ``reason`` (content not admission-checked)."""
    event, status = ("issued", "valid") if seq == 1 else ("suspended", "suspended")
    obj = parse_canonical(
        BUILDER.cert_record("N-1", event, status, seq=seq, prev=None if seq == 1 else "ab" * 32)
    )
    obj["certificate"].update(fields)
    obj["reason"] = reason
    obj.pop("sig")
    obj["sig"] = base64.b64encode(BUILDER.signer.sign(signing_input(obj))).decode()
    return canonical_bytes(obj)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.dictionaries(
        st.sampled_from(["holder", "manufacturer", "product", "scheme", "scope", "number"]), TEXT
    ),
    lists=st.dictionaries(st.sampled_from(["factories", "models", "standards"]), st.lists(TEXT, max_size=3)),
    reason=st.none() | TEXT,
    seq=st.integers(1, 3),
)
def test_signed_records_with_any_text(
    texts: dict[str, str], lists: dict[str, list[str]], reason: str | None, seq: int
) -> None:
    """Validly signed records with every kind of string: same facts, and plain ones take the fast path."""
    raw = _record({**texts, **lists}, reason, seq)
    taken = check(raw)
    number = texts.get("number", "N-1")
    if number and not any(c in number for c in '"\\\b\t\n\f\r\x00\x1f') and reason != "":
        assert taken, raw


MUTATIONS = (b"\\u0022", b"\\u005c", b"\\/", b"\\u001F", b"\\u0008", b"\\b", b" ", b"\n", b"\xff", b"\xed\xa0\x80",
             b'"', b"\\", b"0", b"-", b"1", b",", b"9007199254740993", b"null", b'""', b"\xf0\x9f\x98\x80")  # fmt: skip


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_byte_mutations_never_fool_it(data: st.DataObject) -> None:
    """Bytes changed anywhere (escapes, invalid UTF-8, numbers, structure): facts only for what the full path takes."""
    raw = _record({}, data.draw(st.sampled_from([None, "audit"])), data.draw(st.integers(1, 2)))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        cut = data.draw(st.integers(0, 3))
        raw = raw[:at] + data.draw(st.sampled_from(MUTATIONS)) + raw[at + cut :]
    check(raw)


@pytest.mark.parametrize(
    ("member", "value"),
    [("index", 2**53 - 1), ("index", 10**15), ("seq", 10**15), ("index", 0), ("reason", "é\U0001f600"),
     ("effectiveAt", "2024-02-29T00:00:00Z"), ("recordedAt", "2026-01-01T00:00:00.123456789Z")],
)  # fmt: skip
def test_borderline_values_agree(member: str, value: Any) -> None:
    """Re-encoded records with borderline member values: whatever it says, the full path agrees."""
    obj = parse_canonical(_record({}, None, 2))
    obj[member] = value
    check(canonical_bytes(obj))


def test_both_patterns_agree_on_unescaped_bytes() -> None:
    """The general and the no-escape pattern give the same groups where both apply."""
    patterns = plain_record_patterns(ORIGIN)
    assert patterns is not None
    general, unescaped = patterns
    rng = random.Random(7)
    for _ in range(200):
        raw = _record({"holder": "".join(rng.choice("aé°\u2028\x7f\U0001f600 ") for _ in range(5))}, None, 1)
        assert general.fullmatch(raw) and unescaped.fullmatch(raw)
        assert general.fullmatch(raw).groups() == unescaped.fullmatch(raw).groups()  # type: ignore[union-attr]


def test_other_origins_and_escaped_origins_are_not_taken() -> None:
    raw = _record({}, None, 1)
    assert compact_facts(1, raw, KEYS, True, "other.example/log") is None
    assert plain_record_patterns('a"b') is None and plain_record_patterns("") is None
    assert isinstance(record_facts(1, raw, KEYS, True), RecordFacts)


def test_signatures_opened_after_the_chunk_keep_each_record_its_own_verdict() -> None:
    """``runs_for_chunk`` opens a chunk's signatures after recognising all its lines: a bad
    signature, an escaped (validly signed) record and an unknown key, among good ones, each
    get the verdict the one-by-one path gives, in their places."""
    raws = [_record({"product": f"P{i}" if i != 5 else "\x01P"}, None, 1) for i in range(8)]
    sig_at = raws[2].index(b',"sig":"') + len(b',"sig":"')
    flipped = b"B" if raws[2][sig_at : sig_at + 1] == b"A" else b"A"
    raws[2] = raws[2][:sig_at] + flipped + raws[2][sig_at + 1 :]  # still canonical base64: does not verify
    lines = list(enumerate(raws, 1))
    for directory in (KEYS, {}):
        chunk = (lines, directory, True, ORIGIN)
        assert runs_for_chunk(chunk) == group_runs(batch_for_chunk(chunk))
    verdicts = [
        ok
        for run in runs_for_chunk((lines, KEYS, True, ORIGIN))
        for ok in [run.sig_ok] * (1 if isinstance(run, RecordFacts) else len(run.numbers.split("\n")))
    ]
    assert verdicts == [True, True, False, True, True, True, True, True]
