"""Tamper detection as a property, plus the worked example of ``contracts/LOG.md``.

``reference_verify`` is a small verifier built only from the contract
primitives (``parse_record``, ``KeyRing``, ``verify_record_signature``,
``next_status``, ``leaf_hash``/``MerkleFrontier``, ``verify_checkpoint``). It
is an executable version of the algorithm in LOG.md ("Verification
algorithm", steps C1-C2, R1-R9, E1-E2) and deliberately shares no code with
``certlife.contracts.verification``.

The property: every valid random log passes, and one mutation of it (drop,
swap, replace by a validly re-signed record, equivocate, flip a byte) is
rejected *by the check that must catch it*. Knowing which check fires is what
makes the test fail if a check were removed (``test_each_check_is_needed``).
The same mutated log is also given to ``certlife.contracts.verification.verify_log``
(what ``certverify`` runs), which must fail at the same check.

``test_log_md_worked_example`` regenerates the worked example with fixed keys
and compares it with the fenced blocks marked ``certlife-worked-example`` in
LOG.md, so the document cannot drift from the code.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certlife.contracts.canonical import canonical_bytes, parse_canonical
from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import (
    MerkleFrontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from certlife.contracts.notes import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    parse_note,
    sign_checkpoint,
    verify_checkpoint,
)
from certlife.contracts.records import (
    RecordSigner,
    build_certificate_record,
    build_compromise_record,
    build_rotation_record,
    parse_record,
    record_hash,
    signing_input,
    verify_record_signature,
)
from certlife.contracts.trust import KeyRing, TrustedKey, TrustFile
from certlife.contracts.verification import VerificationError, verify_log
from certlife.domain.errors import InvalidTransition
from certlife.domain.lifecycle import TRANSITIONS, LifecycleEvent, Status, next_status

pytestmark = pytest.mark.unit

LOG_MD = Path(__file__).resolve().parents[2] / "contracts" / "LOG.md"
ORIGIN = "certlife.example/log"

# Check names, in the order the reference verifier runs them (LOG.md, C1-C2, R1-R9, E1-E2).
CHECKPOINT_SIG, PARSE, ORIGIN_CHECK, INDEX = "checkpoint-signature", "canonical", "origin", "index"
KEY, SIGNATURE, CHAIN, TRANSITION, ROOT = "key", "signature", "chain", "transition", "checkpoint-root"
CHECKS = (CHECKPOINT_SIG, PARSE, ORIGIN_CHECK, INDEX, KEY, SIGNATURE, CHAIN, TRANSITION, ROOT)


def fixed_key(label: str) -> Ed25519PrivateKey:
    """A deterministic test key: its 32-byte seed is SHA-256 of ``label``."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


RECORD_KEY = RecordSigner(fixed_key("certlife LOG.md example record key 1"))
NEXT_KEY = RecordSigner(fixed_key("certlife LOG.md example record key 2"))
NOTE_KEY = NoteSigner(ORIGIN, fixed_key("certlife LOG.md example note key"))


def trust_file() -> TrustFile:
    """The partner's trust file: the first record key from index 0, and the note key."""
    key = TrustedKey(RECORD_KEY.key_id, RECORD_KEY.public_raw, 0, None, None)
    return TrustFile(ORIGIN, (key,), (NOTE_KEY.verifier_key(),))


def certificate(number: str) -> dict[str, Any]:
    """Public certificate data for ``number`` (all eleven members)."""
    return {
        "number": number,
        "scheme": "CB",
        "holder": "Acme Charging GmbH",
        "manufacturer": "Acme Charging GmbH",
        "factories": ["Stuttgart"],
        "product": "DC EV charger",
        "models": ["DC-60"],
        "standards": ["IEC 61851-1:2017"],
        "scope": "conductive charging",
        "validFrom": "2025-01-01T00:00:00Z",
        "validUntil": "2028-01-01T00:00:00Z",
    }


def at(index: int) -> str:
    """recordedAt of record ``index``: one minute apart from 2025-03-01T08:00:00Z."""
    minutes = 8 * 60 + index
    return f"2025-03-{1 + minutes // 1440:02d}T{minutes // 60 % 24:02d}:{minutes % 60:02d}:00Z"


# ---------------------------------------------------------------------------
# The reference verifier (LOG.md, "Verification algorithm")


class Rejected(Exception):
    """The reference verifier's one failure: which check, a sub-code, the input position."""

    def __init__(self, check: str, code: str, position: int | None, why: str = "") -> None:
        super().__init__(f"{check}/{code} at position {position}: {why}")
        self.check, self.code, self.position = check, code, position


@dataclass
class Verified:
    """What a successful run established."""

    size: int
    duplicates: list[int] = field(default_factory=list)
    unanchored: int = 0


def reference_verify(
    lines: Sequence[bytes],
    checkpoint_note: str,
    trust: TrustFile,
    disabled: frozenset[str] = frozenset(),
) -> Verified:
    """Verify ``lines`` (records in log order) against one signed checkpoint and ``trust``.

    ``disabled`` names checks to skip (only to show that each one is needed).
    """

    def on(check: str) -> bool:
        return check not in disabled

    # C1-C2: the checkpoint note is signed by a trusted note key, for the trusted origin.
    verifiers = [NoteVerifier.from_string(v) for v in trust.note_keys]
    try:
        if on(CHECKPOINT_SIG):
            checkpoint = verify_checkpoint(checkpoint_note, verifiers, trust.origin)
        else:
            checkpoint = Checkpoint.parse(parse_note(checkpoint_note)[0])
    except ContractError as exc:
        raise Rejected(CHECKPOINT_SIG, exc.code, None, str(exc)) from None
    ring = KeyRing(trust)
    frontier = MerkleFrontier()
    leaves: list[bytes] = []
    chains: dict[str, tuple[int, str, Status]] = {}  # number -> (seq, sha256 hex, status)
    duplicates: list[int] = []
    signed_by: dict[str, list[int]] = {}  # keyId -> indexes it signed
    for position, raw in enumerate(lines):
        # R1: canonical bytes, well-formed v1 record.
        try:
            record = parse_record(raw)
        except ContractError as exc:
            if on(PARSE):
                raise Rejected(PARSE, exc.code, position, str(exc)) from None
            continue
        # R2: a record of the trusted log.
        if on(ORIGIN_CHECK) and record.origin != trust.origin:
            raise Rejected(ORIGIN_CHECK, "wrong-origin", position)
        # R3: the next index, or an exact repeat of an earlier one.
        if on(INDEX) and record.index != frontier.size:
            if record.index > frontier.size:
                raise Rejected(INDEX, "index-gap", position, f"{record.index} after {frontier.size - 1}")
            if leaves[record.index] != leaf_hash(raw):
                raise Rejected(INDEX, "equivocation", position, f"second record {record.index}")
            duplicates.append(record.index)
            continue
        # R4: the key is in force at this index.
        key = None
        if on(KEY):
            try:
                key = ring.key_for(record.key_id, record.index)
            except ContractError as exc:
                raise Rejected(KEY, exc.code, position, str(exc)) from None
        # R5: the signature (and a rotation's newKeySig).
        if on(SIGNATURE) and key is not None:
            try:
                verify_record_signature(record, key.public_raw)
            except ContractError as exc:
                raise Rejected(SIGNATURE, exc.code, position, str(exc)) from None
        signed_by.setdefault(record.key_id, []).append(record.index)
        # R6 (key records): follow a rotation; a compromise marker also condemns
        # records already accepted from its index on that the subject key signed.
        if record.action == "rotate":
            ring.apply_rotation(record)
        elif record.action == "compromise":
            start, subject = record.compromised_from_index, record.subject_key_id
            early = [i for i in signed_by.get(str(subject), []) if start <= i < record.index]
            if on(KEY) and early:
                raise Rejected(KEY, "key-compromised", position, f"record {early[0]} by {subject}")
            try:
                ring.apply_compromise(record)
            except ContractError as exc:
                raise Rejected(KEY, "key-record", position, str(exc)) from None
        if record.kind == "certificate":
            number = record.number
            assert number is not None
            seq, digest, before = chains.get(number, (0, "", None))
            # R7: seq counts this certificate's records; prev hashes the previous one.
            if on(CHAIN) and (record.seq != seq + 1 or (seq and record.prev != digest)):
                raise Rejected(CHAIN, "chain-seq" if record.seq != seq + 1 else "chain-prev", position)
            # R8: the event is legal from the status before and yields the record's status.
            try:
                after = next_status(before, LifecycleEvent(record.event))
            except (InvalidTransition, ValueError):
                after = None
            if on(TRANSITION) and after != record.status:
                raise Rejected(TRANSITION, "illegal-transition", position, f"{before} --{record.event}-->")
            chains[number] = (record.seq, record_hash(raw), Status(record.status))
        # R9: the tree over records 0..index.
        leaves.append(leaf_hash(raw))
        frontier.append(leaves[-1])
        if on(ROOT) and frontier.size == checkpoint.size and frontier.root() != checkpoint.root_hash:
            raise Rejected(ROOT, "root-mismatch", position)
    # E1-E2: the log reaches the checkpoint; later records are unanchored.
    if on(ROOT) and frontier.size < checkpoint.size:
        raise Rejected(ROOT, "log-truncated", None, f"{frontier.size} records < checkpoint {checkpoint.size}")
    return Verified(frontier.size, duplicates, max(0, frontier.size - checkpoint.size))


# ---------------------------------------------------------------------------
# Random valid logs


@dataclass
class Log:
    """A built log: the arguments of each record (to re-sign variants) and its bytes."""

    args: list[dict[str, Any]]
    records: list[bytes]
    checkpoint: str


def build(args: dict[str, Any]) -> bytes:
    """Sign one certificate record from its builder arguments."""
    return build_certificate_record(origin=ORIGIN, signer=RECORD_KEY, **args)


@st.composite
def valid_logs(draw: st.DrawFn) -> Log:
    """2..40 certificate records over a few certificates, each following the lifecycle table."""
    size = draw(st.integers(2, 40))
    slots = draw(st.integers(1, 4))
    current: dict[int, tuple[str, Status, int, str]] = {}  # slot -> (number, status, seq, hash)
    serial = 0
    args: list[dict[str, Any]] = []
    records: list[bytes] = []
    for index in range(size):
        slot = draw(st.integers(0, slots - 1))
        state = current.get(slot)
        legal = [] if state is None else sorted(e for (s, e) in TRANSITIONS if s == state[1])
        if not legal:  # no certificate in this slot yet, or a final one: issue a new one
            serial += 1
            number, before, seq, prev, event = f"CB-{serial:04d}", None, 0, None, LifecycleEvent.ISSUED
        else:
            assert state is not None
            number, before, seq, prev = state[0], state[1], state[2], state[3]
            event = draw(st.sampled_from(legal))
        status = next_status(before, event)
        a = {
            "index": index,
            "certificate": certificate(number),
            "event": str(event),
            "status": str(status),
            "seq": seq + 1,
            "prev": prev,
            "reason": None if event == LifecycleEvent.ISSUED else f"{event} by the scheme",
            "effective_at": at(index),
            "recorded_at": at(index),
        }
        raw = build(a)
        args.append(a)
        records.append(raw)
        current[slot] = (number, status, seq + 1, record_hash(raw))
    root = root_from_leaf_hashes([leaf_hash(r) for r in records])
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root), NOTE_KEY)
    return Log(args, records, note)


def resigned(log: Log, index: int) -> bytes:
    """A validly signed record with the same index, seq and prev but different bytes."""
    return build({**log.args[index], "reason": "re-signed with different content"})


def later_record_of_same_certificate(log: Log, index: int) -> bool:
    """True if a record after ``index`` belongs to the same certificate (it names ``prev``)."""
    number = log.args[index]["certificate"]["number"]
    return any(a["certificate"]["number"] == number for a in log.args[index + 1 :])


def expected_for_flip(original: bytes, flipped: bytes) -> str:
    """The first check that must reject record ``original`` changed to ``flipped``.

    Unparseable or non-canonical: parse. Otherwise the first member the
    verifier looks at that changed: index, origin, keyId; any other change
    (including ``sig``) breaks the signature.
    """
    try:
        changed = parse_record(flipped)
    except ContractError:
        return PARSE
    before = parse_record(original)
    if changed.index != before.index:
        return INDEX
    if changed.origin != before.origin:
        return ORIGIN_CHECK
    if changed.key_id != before.key_id:
        return KEY
    return SIGNATURE


def test_reference_verifier_accepts_exact_redelivery() -> None:
    """A repeated record with the same bytes is a duplicate, not a failure (LOG.md §10.3)."""
    builder_args = [
        {
            "index": 0,
            "certificate": certificate("CB-0001"),
            "event": "issued",
            "status": "valid",
            "seq": 1,
            "prev": None,
            "reason": None,
            "effective_at": at(0),
            "recorded_at": at(0),
        }
    ]
    first = build(builder_args[0])
    second = build(
        {**builder_args[0], "index": 1, "event": "suspended", "status": "suspended"}
        | {"seq": 2, "prev": record_hash(first), "reason": "audit"}
    )
    note = sign_checkpoint(
        Checkpoint(ORIGIN, 2, root_from_leaf_hashes([leaf_hash(first), leaf_hash(second)])), NOTE_KEY
    )
    result = reference_verify([first, second, first, second], note, trust_file())
    assert (result.size, result.duplicates, result.unanchored) == (2, [0, 1], 0)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=valid_logs(), data=st.data())
def test_one_mutation_is_caught_by_the_right_check(log: Log, data: st.DataObject) -> None:
    """Every valid log passes; each single mutation fails at the check that must catch it."""
    trust = trust_file()
    assert reference_verify(log.records, log.checkpoint, trust).size == len(log.records)

    n = len(log.records)
    lines = list(log.records)
    kind = data.draw(st.sampled_from(["drop", "swap", "replace", "equivocate", "flip"]), label="mutation")
    if kind == "drop":
        i = data.draw(st.integers(0, n - 1), label="index")
        del lines[i]
        expected = (ROOT, "log-truncated") if i == n - 1 else (INDEX, "index-gap")
    elif kind == "swap":
        i = data.draw(st.integers(0, n - 2), label="index")
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
        expected = (INDEX, "index-gap")
    elif kind == "replace":
        i = data.draw(st.integers(0, n - 1), label="index")
        lines[i] = resigned(log, i)
        assert parse_record(lines[i]).index == i and lines[i] != log.records[i]
        expected = (
            (CHAIN, "chain-prev") if later_record_of_same_certificate(log, i) else (ROOT, "root-mismatch")
        )
    elif kind == "equivocate":
        i = data.draw(st.integers(0, n - 1), label="index")
        lines.insert(i + 1, resigned(log, i))
        expected = (INDEX, "equivocation")
    else:
        i = data.draw(st.integers(0, n - 1), label="index")
        offset = data.draw(st.integers(0, len(lines[i]) - 1), label="byte")
        mask = data.draw(st.integers(1, 255), label="xor")
        flipped = bytearray(lines[i])
        flipped[offset] ^= mask
        lines[i] = bytes(flipped)
        expected = (expected_for_flip(log.records[i], lines[i]), "")

    with pytest.raises(Rejected) as caught:
        reference_verify(lines, log.checkpoint, trust)
    got = (caught.value.check, caught.value.code if expected[1] else "")
    assert got == expected, str(caught.value)
    # certverify's engine agrees on the check (the codes are the same names).
    with pytest.raises(VerificationError) as product:
        verify_log(enumerate(lines, start=1), [(n, log.checkpoint)], trust)
    failure = product.value.failure
    assert (failure.check, failure.code if expected[1] else "") == expected, failure.describe()


def _sample_log(size: int = 6) -> Log:
    """A fixed log: CB-0001 issued, suspended, reinstated; CB-0002 issued, ...; checkpoint of all."""
    plan = [
        ("CB-0001", "issued", "valid"),
        ("CB-0002", "issued", "valid"),
        ("CB-0001", "suspended", "suspended"),
        ("CB-0001", "reinstated", "valid"),
        ("CB-0002", "amended", "valid"),
        ("CB-0002", "revoked", "revoked"),
    ][:size]
    heads: dict[str, tuple[int, str]] = {}
    args: list[dict[str, Any]] = []
    records: list[bytes] = []
    for index, (number, event, status) in enumerate(plan):
        seq, prev = heads.get(number, (0, None))
        a = {
            "index": index,
            "certificate": certificate(number),
            "event": event,
            "status": status,
            "seq": seq + 1,
            "prev": prev,
            "reason": None if event == "issued" else "by the scheme",
            "effective_at": at(index),
            "recorded_at": at(index),
        }
        raw = build(a)
        args.append(a)
        records.append(raw)
        heads[number] = (seq + 1, record_hash(raw))
    root = root_from_leaf_hashes([leaf_hash(r) for r in records])
    return Log(args, records, sign_checkpoint(Checkpoint(ORIGIN, len(records), root), NOTE_KEY))


def _with_new_signature(raw: bytes, **changes: Any) -> bytes:
    """``raw`` with members changed and re-signed by the record key (a forger holding the key)."""
    data = {k: v for k, v in parse_canonical(raw).items() if k != "sig"}
    data.update(changes)
    data["sig"] = base64.b64encode(RECORD_KEY.sign(signing_input(data))).decode()
    return canonical_bytes(data)


def _forged_sig(raw: bytes) -> bytes:
    """``raw`` with a well-formed signature made by a different key."""
    data = parse_canonical(raw)
    data["sig"] = base64.b64encode(NEXT_KEY.sign(signing_input(data))).decode()
    return canonical_bytes(data)


def _cases() -> list[tuple[str, str, list[bytes], str]]:
    """(check, code, lines, checkpoint) where ``check`` is the first check to reject."""
    log = _sample_log()
    r = log.records
    other = NoteSigner(ORIGIN, fixed_key("someone else's note key"))
    root = root_from_leaf_hashes([leaf_hash(x) for x in r])
    return [
        (CHECKPOINT_SIG, "unverified-note", r, sign_checkpoint(Checkpoint(ORIGIN, 6, root), other)),
        (PARSE, "not-canonical", [r[0], r[1] + b" ", *r[2:]], log.checkpoint),
        (
            ORIGIN_CHECK,
            "wrong-origin",
            [r[0], _with_new_signature(r[1], origin="evil.example/log"), *r[2:]],
            log.checkpoint,
        ),
        (INDEX, "index-gap", [r[0], r[2], r[1], *r[3:]], log.checkpoint),
        (KEY, "unknown-key", [r[0], build_with(NEXT_KEY, log.args[1]), *r[2:]], log.checkpoint),
        (SIGNATURE, "bad-signature", [r[0], _forged_sig(r[1]), *r[2:]], log.checkpoint),
        (CHAIN, "chain-prev", [*r[:2], _with_new_signature(r[2], prev="00" * 32), *r[3:]], log.checkpoint),
        (
            TRANSITION,
            "illegal-transition",
            [*r[:3], _with_new_signature(r[3], event="revoked"), *r[4:]],
            log.checkpoint,
        ),
        (ROOT, "root-mismatch", r, sign_checkpoint(Checkpoint(ORIGIN, 6, b"\x00" * 32), NOTE_KEY)),
    ]


def build_with(signer: RecordSigner, args: dict[str, Any]) -> bytes:
    """A certificate record signed by ``signer`` (a key the partner does not trust)."""
    return build_certificate_record(origin=ORIGIN, signer=signer, **args)


@pytest.mark.parametrize("case", range(len(CHECKS)), ids=list(CHECKS))
def test_each_check_is_needed(case: int) -> None:
    """Each check rejects its tamper case first; with that check removed, it no longer does."""
    check, code, lines, note = _cases()[case]
    assert check == CHECKS[case]
    trust = trust_file()
    with pytest.raises(Rejected) as caught:
        reference_verify(lines, note, trust)
    assert (caught.value.check, caught.value.code) == (check, code), str(caught.value)
    try:
        reference_verify(lines, note, trust, disabled=frozenset({check}))
    except Rejected as later:
        assert later.check != check
    # Without the check the case is either accepted or caught later: never by this check.


def test_sample_log_passes() -> None:
    """The fixed log of ``test_each_check_is_needed`` is valid as built."""
    log = _sample_log()
    assert reference_verify(log.records, log.checkpoint, trust_file()).size == 6


# ---------------------------------------------------------------------------
# LOG.md worked example


def worked_example() -> dict[str, str]:
    """The 3-record log of LOG.md: issue, suspend, rotate; its hashes, proofs and checkpoint."""
    first = build(
        {
            "index": 0,
            "certificate": certificate("CB-DE-2025-0001"),
            "event": "issued",
            "status": "valid",
            "seq": 1,
            "prev": None,
            "reason": None,
            "effective_at": "2025-03-01T08:00:00Z",
            "recorded_at": "2025-03-01T08:00:05Z",
        }
    )
    second = build(
        {
            "index": 1,
            "certificate": certificate("CB-DE-2025-0001"),
            "event": "suspended",
            "status": "suspended",
            "seq": 2,
            "prev": record_hash(first),
            "reason": "factory audit overdue",
            "effective_at": "2025-03-02T00:00:00Z",
            "recorded_at": "2025-03-02T09:30:00Z",
        }
    )
    third = build_rotation_record(
        origin=ORIGIN,
        index=2,
        outgoing=RECORD_KEY,
        incoming=NEXT_KEY,
        recorded_at="2025-03-03T10:00:00Z",
        reason="scheduled rotation",
    )
    records = [first, second, third]
    leaves = [leaf_hash(r) for r in records]
    root = root_from_leaf_hashes(leaves)
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, root), NOTE_KEY)
    values = {
        "origin": ORIGIN,
        "record-key-public": base64.b64encode(RECORD_KEY.public_raw).decode(),
        "record-key-id": RECORD_KEY.key_id,
        "next-key-public": base64.b64encode(NEXT_KEY.public_raw).decode(),
        "next-key-id": NEXT_KEY.key_id,
        "note-key-vkey": NOTE_KEY.verifier_key(),
        "note-key-hash": NOTE_KEY.key_hash.hex(),
        "signing-input-0-hex": signing_input(parse_canonical(first)).hex(),
        "sha256-record-0": record_hash(first),
        "node-01": hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).hexdigest(),
        "root-hex": root.hex(),
        "root-base64": base64.b64encode(root).decode(),
        "inclusion-proof-1-of-3": " ".join(h.hex() for h in inclusion_proof(leaves, 1, 3)),
        "consistency-proof-2-to-3": " ".join(h.hex() for h in consistency_proof(leaves, 2, 3)),
    }
    for i, raw in enumerate(records):
        values[f"record-{i}"] = raw.decode()
        values[f"leaf-{i}"] = leaves[i].hex()
    values["checkpoint-note"] = note
    return values


_BLOCK = re.compile(r"<!-- certlife-worked-example:(\S+) -->\n```[a-z]*\n(.*?)```\n", re.S)


def _blocks(text: str) -> dict[str, str]:
    return {name: body for name, body in _BLOCK.findall(text)}


def test_log_md_worked_example() -> None:
    """Every value in LOG.md's marked blocks is what the code computes today."""
    blocks = _blocks(LOG_MD.read_text(encoding="utf-8"))
    assert set(blocks) >= {"values", "checkpoint"}, "LOG.md lost its marked example blocks"
    expected = worked_example()
    documented: dict[str, str] = {}
    for line in blocks["values"].splitlines():
        name, _, value = line.partition(": ")
        documented[name] = documented.get(name, "") + value  # long values continue on lines of the same name
    assert documented == {k: v for k, v in expected.items() if k != "checkpoint-note"}
    assert blocks["checkpoint"] == expected["checkpoint-note"]


def test_worked_example_verifies_with_the_primitives() -> None:
    """The documented example is a valid log: the reference verifier and the proofs accept it."""
    ex = worked_example()
    records = [ex[f"record-{i}"].encode() for i in range(3)]
    result = reference_verify(records, ex["checkpoint-note"], trust_file())
    assert (result.size, result.unanchored) == (3, 0)
    leaves = [bytes.fromhex(ex[f"leaf-{i}"]) for i in range(3)]
    root = bytes.fromhex(ex["root-hex"])
    proof = [bytes.fromhex(h) for h in ex["inclusion-proof-1-of-3"].split()]
    verify_inclusion(leaves[1], 1, 3, proof, root)
    old_root = hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).digest()
    verify_consistency(
        2, 3, old_root, root, [bytes.fromhex(h) for h in ex["consistency-proof-2-to-3"].split()]
    )
    # The rotation's newKeySig verifies under the announced key, over the same signing input.
    rotation = parse_record(records[2])
    assert rotation.new_key_id == NEXT_KEY.key_id
    verify_record_signature(rotation, RECORD_KEY.public_raw)


@pytest.mark.parametrize(("compromised_from", "expected"), [(1, "key-compromised"), (4, None)])
def test_compromise_marker_condemns_earlier_records(compromised_from: int, expected: str | None) -> None:
    """A marker naming an earlier index rejects records the subject key signed from there on."""
    log = _sample_log(3)
    rotation = build_rotation_record(
        origin=ORIGIN, index=3, outgoing=RECORD_KEY, incoming=NEXT_KEY, recorded_at=at(3), reason=None
    )
    marker = build_compromise_record(
        origin=ORIGIN,
        index=4,
        signer=NEXT_KEY,
        compromised_key_id=RECORD_KEY.key_id,
        compromised_from_index=compromised_from,
        recorded_at=at(4),
        reason="key leaked",
    )
    lines = [*log.records, rotation, marker]
    note = sign_checkpoint(
        Checkpoint(ORIGIN, 5, root_from_leaf_hashes([leaf_hash(x) for x in lines])), NOTE_KEY
    )
    if expected is None:
        assert reference_verify(lines, note, trust_file()).size == 5
        return
    with pytest.raises(Rejected) as caught:
        reference_verify(lines, note, trust_file())
    assert (caught.value.check, caught.value.code, caught.value.position) == (KEY, expected, 4)
