"""Fuzzing of every parser of untrusted input in ``contracts``.

Valid records, trust files, checkpoint notes, verifier keys, proof bundles and
commands are mutated (one member anywhere replaced, deleted or added, some
records validly re-signed) or replaced by byte-level garbage. Each parser must
then succeed or raise its documented :class:`~certlife.contracts.errors.ContractError`
subclass, never a crash with another exception type.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certlife.contracts.bundle import ProofBundle, build_bundle
from certlife.contracts.canonical import canonical_bytes, parse_canonical
from certlife.contracts.commands import CommandError, parse_command
from certlife.contracts.errors import NoteError, RecordFormatError, TrustError
from certlife.contracts.merkle import leaf_hash
from certlife.contracts.notes import NoteVerifier, open_note, parse_note, sign_note, verify_checkpoint
from certlife.contracts.records import parse_record, record_hash, signing_input
from certlife.contracts.trust import TrustFile
from certlife.contracts.verification import RecordFacts, VerificationError, record_facts, verify_log
from certlife.contracts.verification.facts import batch_for_chunk, compact_facts
from certlife.contracts.verification.proof import verify_bundle
from certlife.domain.lifecycle import LifecycleEvent, Status
from tests.unit.logbuilder import ORIGIN, LogBuilder

pytestmark = pytest.mark.unit
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LOG = LogBuilder()
LOG.add("C-1", "issued", "valid")
LOG.add("C-2", "issued", "valid")
LOG.rotate("k1")
LOG.add("C-1", "suspended", "suspended")
LOG.compromise(LOG.first_signer, 3)
LOG.checkpoint()
TRUST = LOG.trust()
SIGNERS = {s.key_id: s for s in (LOG.first_signer, LOG.signer)}
DIRECTORY = {key_id: s.public_raw for key_id, s in SIGNERS.items()}
VERIFIERS = [NoteVerifier.from_string(v) for v in TRUST.note_keys]
NOTE = LOG.checkpoints[-1][1]
BUNDLE = build_bundle(
    origin=ORIGIN, leaf_hashes=[leaf_hash(r) for r in LOG.records], checkpoint=NOTE, tree_size=5,
    record=(3, LOG.records[3]), key_records=[(2, LOG.records[2]), (4, LOG.records[4])],
)  # fmt: skip
COMMAND = {
    "type": "issue", "commandId": "cmd-1", "issuer": "CB", "number": "C-9", "scheme": "CB",
    "holder": "Acme", "manufacturer": "Acme", "factories": ["F"], "product": "P", "models": ["M"],
    "standards": ["S"], "scope": "s", "validFrom": "2025-01-01T00:00:00Z",
    "validUntil": "2028-01-01T00:00:00Z", "testReports": [{"lab": "L", "reportNumber": "R-1"}],
}  # fmt: skip

#: Values a checker treats specially: enum members, key ids, edge dates, base64, hashes.
INTERESTING = st.sampled_from(
    [*(e.value for e in LifecycleEvent), *(s.value for s in Status), "certificate", "key", "rotate",
     "compromise", ORIGIN, "C-2", *SIGNERS, base64.b64encode(LOG.signer.public_raw).decode(),
     "2025-02-29T00:00:00Z", "2024-02-29", "0000-01-01", "2025-03-01T24:00:00Z", "0" * 64,
     *map(record_hash, LOG.records), "AA==", "", 0, 1, 2, 3, 4, 5, -1, 2**53 - 1]
)  # fmt: skip
#: JSON values ``canonical_bytes`` can encode (keys may hold supplementary characters).
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12) | INTERESTING,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
#: Replacement values of record members: often one of the special values, often unhashable.
RECORD_VALUES = INTERESTING | JSON | st.lists(JSON) | st.dictionaries(st.text(), JSON)
#: Text with lone surrogates, controls and the characters notes and vkeys use as separators.
WILD_TEXT = st.lists(
    st.characters(exclude_categories=[]) | st.sampled_from("\ud800\udfff\x00\n\t —+"), max_size=20
).map("".join)
#: Any JSON value ``json.dumps`` writes: also floats, huge integers and lone surrogates.
WILD = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | WILD_TEXT | INTERESTING,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WILD_TEXT, inner, max_size=3),
    max_leaves=6,
)


def mutate(data: st.DataObject, tree: Any, values: st.SearchStrategy[Any]) -> Any:
    """A copy of JSON ``tree`` with one member or item anywhere replaced, deleted or added."""
    tree = copy.deepcopy(tree)
    slots, stack = [], [tree]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            slots.append((node, key))
            stack.append(value)
    node, key = data.draw(st.sampled_from(slots), label="slot")
    action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
    if action == "delete":
        del node[key]
    else:
        add = action == "add" and isinstance(node, dict)
        node[data.draw(st.text(max_size=12), label="name") if add else key] = data.draw(values, label="value")
    return tree


def wire(data: st.DataObject, valid: bytes, tree: Any = None) -> bytes:
    """``tree`` as JSON (if given), ``valid`` with a slice replaced by random bytes, or random bytes."""
    start = data.draw(st.integers(0, len(valid)), label="start")
    end = data.draw(st.integers(start, len(valid)), label="end")
    noise = data.draw(st.binary(max_size=40), label="noise")
    mutated = [] if tree is None else [json.dumps(tree).encode()] * 2
    return data.draw(st.sampled_from([*mutated, valid[:start] + noise + valid[end:], noise]), label="bytes")


def resign(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` signed again by the key its ``keyId`` names (and a rotation's incoming key)."""
    signer = SIGNERS.get(str(record.get("keyId")))
    if signer is not None:
        record["sig"] = base64.b64encode(signer.sign(signing_input(record))).decode()
        if "newKeySig" in record:
            record["newKeySig"] = base64.b64encode(LOG.signer.sign(signing_input(record))).decode()
    return record


def bad_record(data: st.DataObject, raw: bytes) -> bytes:
    """Record ``raw`` mutated member-wise (often validly re-signed) or byte-wise."""
    if data.draw(st.integers(0, 3), label="bytes") == 0:
        return wire(data, raw)
    record = mutate(data, parse_canonical(raw), RECORD_VALUES)
    return canonical_bytes(resign(record) if data.draw(st.integers(0, 3), label="resign") else record)


def check_record_bytes(raw: bytes) -> None:
    """``parse_record`` raises only RecordFormatError; the fact extractors never raise."""
    with suppress(RecordFormatError):
        parse_record(raw)
    assert isinstance(record_facts(1, raw, DIRECTORY, True), RecordFacts)
    assert compact_facts(1, raw, DIRECTORY, True, ORIGIN) is None or parse_record(raw)
    assert len(batch_for_chunk(([(1, raw)], DIRECTORY, True, ORIGIN))) == 1


def test_the_fixtures_are_valid() -> None:
    """Every fuzzed input starts from a valid one."""
    assert verify_log(LOG.lines(), LOG.checkpoints, TRUST).records == 5
    assert verify_bundle(BUNDLE, TRUST, NOTE).to_json()["ok"]
    assert parse_command(json.dumps(COMMAND).encode()).type == "issue"


# Regressions: inputs that once crashed with an exception other than the documented one.
EVENT_LIST = canonical_bytes(resign({**parse_canonical(LOG.records[0]), "event": []}))  # TypeError
DEEP_EMOJI_KEY = b'{"a":' + b"[" * 1000 + b'{"\xf0\x9f\x98\x80":1}' + b"]" * 1000 + b"}"  # RecursionError
DEEP_COMMAND = b'{"type":"issue","models":' + b"[" * 5000 + b"}"  # RecursionError
SURROGATE_VKEY = "\ud800+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode()  # UnicodeEncodeError
SURROGATE_TRUST = json.dumps({**TRUST.to_json(), "noteKeys": [SURROGATE_VKEY]}).encode()
REGRESSIONS = [
    (partial(parse_record, EVENT_LIST), RecordFormatError, "'event': must be one of"),
    (partial(verify_log, [(1, EVENT_LIST)], [], TRUST), VerificationError, "record-format"),
    (partial(parse_record, DEEP_EMOJI_KEY), RecordFormatError, "nested too deeply"),
    (partial(verify_log, [(1, DEEP_EMOJI_KEY)], [], TRUST), VerificationError, "nested too deeply"),
    (partial(parse_command, b"[" * 10_000), CommandError, "malformed JSON"),
    (partial(parse_command, DEEP_COMMAND), CommandError, "malformed JSON"),
    (partial(NoteVerifier.from_string, SURROGATE_VKEY), NoteError, "invalid key name"),
    (partial(TrustFile.from_bytes, SURROGATE_TRUST), TrustError, "invalid key name"),
    (partial(open_note, "\ud800" + NOTE, VERIFIERS), NoteError, "lone surrogate"),
    (partial(open_note, NOTE.replace("\n\n", "\n\ud800\n\n"), VERIFIERS), NoteError, "lone surrogate"),
    (partial(sign_note, "\ud800\n", [LOG.note_signer]), NoteError, "lone surrogate"),
]


@pytest.mark.parametrize(("call", "error", "message"), REGRESSIONS)
def test_regressions(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """Each regression input raises the documented error, with a specific message."""
    with pytest.raises(error, match=message):
        call()


@FUZZ
@given(data=st.data())
def test_record_parsers_and_verify_log(data: st.DataObject) -> None:
    """Records: parse and facts never crash; a log with one bad line fails with VerificationError."""
    lines = LOG.lines()
    at = data.draw(st.integers(0, len(lines) - 1), label="line")
    lines[at] = (at + 1, bad_record(data, LOG.records[at]))
    check_record_bytes(lines[at][1])
    signatures = data.draw(st.sampled_from(["all", "checkpoints"]), label="signatures")
    with suppress(VerificationError):
        verify_log(lines, LOG.checkpoints, TRUST, signatures=signatures)


@FUZZ
@given(data=st.data())
def test_trust_file(data: st.DataObject) -> None:
    """``TrustFile.from_dict`` and ``from_bytes`` raise only TrustError."""
    tree = mutate(data, TRUST.to_json(), WILD)
    with suppress(TrustError):
        TrustFile.from_dict(tree)
    with suppress(TrustError):
        TrustFile.from_bytes(wire(data, TRUST.to_bytes(), tree))


@FUZZ
@given(data=st.data(), noise=WILD_TEXT, resigned=st.booleans())
def test_notes(data: st.DataObject, noise: str, resigned: bool) -> None:
    """Notes, checkpoints and verifier keys: parse and verify raise only NoteError."""
    start = data.draw(st.integers(0, len(NOTE)), label="start")
    note = NOTE[:start] + noise + NOTE[data.draw(st.integers(start, len(NOTE)), label="end") :]
    if resigned:  # reach the checkpoint body checks behind a valid signature
        with suppress(NoteError):
            note = sign_note(note.partition("\n\n")[0] + "\n", [LOG.note_signer])
    vkey = TRUST.note_keys[0][:start] + noise + TRUST.note_keys[0][start + 3 :]
    calls: list[Callable[[], object]] = [partial(parse_note, note), partial(open_note, note, VERIFIERS)]
    calls += [partial(verify_checkpoint, note, VERIFIERS, ORIGIN), partial(NoteVerifier.from_string, vkey)]
    for call in calls:
        with suppress(NoteError):
            call()


@FUZZ
@given(data=st.data())
def test_proof_bundle(data: st.DataObject) -> None:
    """``ProofBundle.parse`` and ``verify_bundle`` raise only VerificationError."""
    tree = BUNDLE.to_json()
    if data.draw(st.booleans(), label="record"):
        tree["record"]["record"] = bad_record(data, LOG.records[3]).decode("utf-8", "replace")
    else:
        tree = mutate(data, tree, WILD)
    known = data.draw(st.sampled_from([None, NOTE]), label="known")
    with suppress(VerificationError):
        verify_bundle(ProofBundle.parse(wire(data, BUNDLE.to_bytes(), tree)), TRUST, known)


@FUZZ
@given(data=st.data())
def test_commands(data: st.DataObject) -> None:
    """``parse_command`` (fed a message's raw bytes) raises only CommandError."""
    with suppress(CommandError):
        parse_command(wire(data, orjson.dumps(COMMAND), mutate(data, COMMAND, WILD)))
