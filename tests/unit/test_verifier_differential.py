"""The verifier's fast path returns exactly what the named steps return, on valid and tampered logs.

``verify_log`` has two ways through a record. The named steps (LOG.md §11,
R1-R9): :func:`record_facts` parses and checks the record in full
(``check_record``) and :meth:`LogVerifier.feed` runs every step one by one.
The fast path, taken by the common record: :func:`compact_facts` (with the
``plain_certificate_record`` pre-check, ``_PLAIN_FIRST``/``_PLAIN_NEXT``)
returns a compact tuple, and :meth:`LogVerifier.feed_batch` checks it inline
and counts the checks in bulk. The process-pool workers
(``certlife.services.partner.parallel``) run the same ``batch_for_chunk`` in
other processes and send the facts back pickled.

The fast path may stay only while it is indistinguishable: for random valid
logs (``LogBuilder``: certificates, lifecycle events, rotations, compromise
markers, checkpoints, records the fast path declines) and every tamper class
(dropped, swapped, duplicated, flipped byte, non-canonical bytes, a validly
signed borderline member value, a value changed under the old signature,
re-signed replacement, equivocation, truncation, unknown key, wrong origin,
illegal transition, a trust file ending a key's range, a compromise marker
naming signed records, checkpoint rollback, known-checkpoint rollback and
fork, and checkpoints of another origin, by an unknown key, with a bad
signature or a wrong root), the fast run, the worker run and the plain run
(facts from ``facts_for_chunk`` only, so ``feed_batch`` hands every record
to ``feed``) give the same result: ok or not, the whole failure (code,
check, message, index, certificate, position, checkpoint), and the report
with every check count, duplicate, checkpoint and the watched certificate's
facts. So do a fast and a plain follower that gets the checkpoints after
the records (``extend_checkpoints``).
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import pickle
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certlife.contracts.canonical import canonical_bytes, parse_canonical
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.record_checks import EVENTS, STATUSES
from certlife.contracts.records import RecordSigner, build_compromise_record, parse_record, signing_input
from certlife.contracts.trust import TrustFile
from certlife.contracts.verification import LogVerifier, VerificationError, verify_log
from certlife.contracts.verification.facts import (
    BatchChunk,
    CompactFacts,
    RecordFacts,
    batch_for_chunk,
    facts_for_chunk,
)
from certlife.contracts.verification.report import reporting
from certlife.domain.lifecycle import TRANSITIONS
from tests.unit.logbuilder import LogBuilder, certificate, private_key

pytestmark = pytest.mark.unit

#: Draws an integer in ``[lo, hi]``: hypothesis' ``data.draw`` or a seeded ``random.Random``.
Pick = Callable[[int, int], int]
Mapper = Callable[[Iterable[BatchChunk]], Iterator[list[RecordFacts | CompactFacts]]]

STRANGER = RecordSigner(private_key("differential stranger"))
STRANGER_NOTE = NoteSigner(LogBuilder().origin, private_key("differential stranger note"))
#: Certificate contents, plain and not: the fast path declines supplementary
#: characters and dates that are not valid in every year (29 February).
HOLDERS = ("Acme Charging GmbH", "Müller Ladetechnik GmbH", "Volt 😀 Mobility", "ACME \u00a0Ltd")
VALID_FROM = ("2025-01-01", "2024-02-29", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00.5Z")
#: Members a validly re-signed record may get a borderline value in (``check_record`` decides).
EDGE_MEMBERS = (
    "v", "origin", "index", "kind", "keyId", "sig", "event", "status", "seq", "prev", "reason",
    "effectiveAt", "recordedAt", "extra", *(f"certificate.{m}" for m in certificate("X"))
)  # fmt: skip
#: Dates and timestamps just inside and just outside what a record may hold.
TIME_EDGES = (
    "2025-04-31", "2025-04-30", "2025-02-29", "2024-02-29", "2100-02-29", "2000-02-29", "0999-12-31",
    "1000-01-01", "2025-1-01", "2025-00-10", "2025-12-32", "2025-03-01T24:00:00Z", "2025-03-01T23:59:60Z",
    "2025-03-01T00:00:00z", "2025-03-01T00:00:00.Z", "2025-03-01T00:00:00.1234567891Z",
    "2024-02-29T23:59:59.999999999Z", "2025-02-29T00:00:00Z", "2025-03-01T00:00:00+00:00",
    "2025-03-01T00:00:00Z\n", "2025-03-01 00:00:00Z",
)  # fmt: skip
EDGE_VALUES = (
    None, "", "-", "\n", "a\nb", 0, 1, -1, 2**53 - 1, True, [], ["x"], [1], {}, "0" * 64, "F" * 16, "f" * 16,
    "issued", "valid", "Issued", "A" * 85 + "B==", "test.certlife.example/log\n", "😀", *TIME_EDGES,
)  # fmt: skip
_TIMES = ("certificate.validFrom", "certificate.validUntil", "effectiveAt", "recordedAt")


@dataclass
class Built:
    """A valid log and what is needed to tamper with it."""

    builder: LogBuilder
    signers: dict[str, RecordSigner] = field(default_factory=dict)

    @property
    def records(self) -> list[bytes]:
        """The log's records, in order."""
        return self.builder.records


@dataclass
class Case:
    """One verification input: records in input order, checkpoint notes, a known checkpoint, the trust file."""

    lines: list[bytes]
    checkpoints: list[tuple[int, str]]
    known: str | None = None
    trust: TrustFile | None = None


def build_log(pick: Pick) -> Built:
    """A random valid log: issues, lifecycle events, rotations, compromise markers, checkpoints."""
    b = LogBuilder()
    built = Built(b, {b.signer.key_id: b.signer})
    retired: list[tuple[RecordSigner, int]] = []  # (key, first index it no longer signs)
    serial = rotations = 0
    for _ in range(pick(1, 24)):
        op = ("issue", "event", "event", "many", "rotate", "compromise", "checkpoint")[pick(0, 6)]
        live = [n for n, (_, _, status) in b.chains.items() if _events(status)]
        if op == "issue" or (op == "event" and not live):
            serial += 1
            cert = certificate(f"X-{serial:04d}") | {
                "holder": HOLDERS[pick(0, len(HOLDERS) - 1)],
                "validFrom": VALID_FROM[pick(0, len(VALID_FROM) - 1)],
            }
            b.add(cert["number"], "issued", "valid", certificate=cert)
        elif op == "event":
            number = live[pick(0, len(live) - 1)]
            choices = _events(b.chains[number][2])
            event, after = choices[pick(0, len(choices) - 1)]
            b.add(number, event, after, reason=None if pick(0, 2) == 0 else f"{event} by the scheme")
        elif op == "many":
            serial += 1
            b.issue_many(pick(1, 5), prefix=f"M{serial}")
        elif op == "rotate":
            rotations += 1
            outgoing = b.signer
            b.rotate(f"differential-k{rotations}")
            retired.append((outgoing, len(b.records)))
            built.signers[b.signer.key_id] = b.signer
        elif op == "compromise" and retired:
            subject, until = retired[pick(0, len(retired) - 1)]
            b.compromise(subject, pick(until, len(b.records)))  # nothing it signed is affected
        elif op == "checkpoint":
            b.checkpoint()
    if not b.chains:  # at least one certificate record
        b.issue_many(1, prefix="ONLY")
    if pick(0, 2):
        b.checkpoint()
    if pick(0, 9) == 0:  # the current key compromised from the marker on: nothing may follow
        b.compromise(b.signer, len(b.records))
    return built


def _events(status: str | None) -> list[tuple[str, str]]:
    """``(event, status after)`` of every legal lifecycle event from ``status`` (None: not issued yet)."""
    return sorted((e.value, a.value) for (s, e), a in TRANSITIONS.items() if (s and s.value) == status)


def resign(built: Built, raw: bytes, signer: RecordSigner | None = None, **changes: Any) -> bytes:
    """``raw`` with members changed and a valid signature (by its own key unless ``signer``)."""
    data = parse_canonical(raw)
    if signer is not None:
        changes["keyId"] = signer.key_id
    signer = signer or built.signers[data["keyId"]]
    data |= changes
    data["sig"] = base64.b64encode(signer.sign(signing_input(data))).decode()
    return canonical_bytes(data)


def edge_value(built: Built, raw: bytes, member: str, value: Any) -> bytes:
    """``raw`` with one member (``certificate.x`` for a certificate field) set to ``value``, re-signed."""
    data = parse_canonical(raw)
    if member.startswith("certificate."):
        if "certificate" not in data:
            return raw
        changes = {"certificate": data["certificate"] | {member.split(".", 1)[1]: value}}
    else:
        changes = {member: value}
    if member == "sig":  # a signature that is not canonical base64 cannot be re-signed
        return canonical_bytes(data | changes)
    return resign(built, raw, **changes)


def _status_before(records: list[bytes], at: int) -> str | None:
    """The status of record ``at``'s certificate after its previous record (None: no record)."""
    number, before = parse_record(records[at]).number, None
    for raw in records[:at]:
        record = parse_record(raw)
        if record.number == number:
            before = record.status
    return before


def _certificate_positions(records: list[bytes]) -> list[int]:
    return [i for i, raw in enumerate(records) if parse_record(raw).kind == "certificate"]


def _any_checkpoint(built: Built, case: Case, pick: Pick) -> int:
    """Index into ``case.checkpoints`` of a checkpoint to tamper with (one is added if none)."""
    if not case.checkpoints:
        size = pick(0, len(built.records))
        case.checkpoints.append((size, built.builder.sign_checkpoint(size)))
    return pick(0, len(case.checkpoints) - 1)


def tamper(kind: str, built: Built, pick: Pick) -> Case:
    """Apply one tamper class to a copy of the log (indexes and bytes chosen with ``pick``)."""
    b, records = built.builder, built.records
    case = Case(list(records), list(b.checkpoints))
    lines, n = case.lines, len(records)
    i = pick(0, n - 1)
    if kind == "drop":
        del lines[i]
    elif kind == "swap" and n > 1:
        j = pick(0, n - 2)
        lines[j], lines[j + 1] = lines[j + 1], lines[j]
    elif kind == "duplicate":
        lines.insert(pick(i + 1, n), records[i])
    elif kind == "flip":
        flipped = bytearray(lines[i])
        flipped[pick(0, len(flipped) - 1)] ^= pick(1, 255)
        lines[i] = bytes(flipped)
    elif kind == "not-canonical":
        lines[i] = lines[i].replace(b'":', b'" :', 1)
    elif kind == "unsigned-change":  # a value changed, the old signature kept
        data = parse_canonical(records[i])
        if "certificate" in data:
            data["certificate"] = data["certificate"] | {"holder": data["certificate"]["holder"].swapcase()}
        else:
            data["reason"] = "changed"
        lines[i] = canonical_bytes(data)
    elif kind == "resign":
        lines[i] = resign(built, records[i], reason="re-signed with different content")
    elif kind == "equivocate":
        lines.insert(pick(i + 1, n), resign(built, records[i], reason="shown to one partner only"))
    elif kind == "truncate":
        del lines[n - pick(1, n) :]
    elif kind == "unknown-key":
        lines[i] = resign(built, records[i], signer=STRANGER)
    elif kind == "wrong-origin":
        lines[i] = resign(built, records[i], origin="evil.example/log")
    elif kind == "illegal-transition":
        certs = _certificate_positions(records)
        later = [c for c in certs if parse_record(records[c]).seq != 1] or certs
        at = later[pick(0, len(later) - 1)]
        before = _status_before(records, at)
        legal = {e: a for e, a in _events(before)}
        statuses = sorted(STATUSES)
        if pick(0, 1) or not legal:  # an event the status before does not allow, with a status it gives
            events = sorted(EVENTS - legal.keys() - ({"issued"} if before else set()))
            event = events[pick(0, len(events) - 1)]
            gives = sorted({a.value for (_, e), a in TRANSITIONS.items() if e.value == event}) or statuses
            status = gives[pick(0, len(gives) - 1)]
        else:  # an allowed event, and a status it does not give
            event = sorted(legal)[pick(0, len(legal) - 1)]
            wrong = [name for name in statuses if name != legal[event]]
            status = wrong[pick(0, len(wrong) - 1)]
        lines[at] = resign(built, records[at], event=event, status=status)
    elif kind == "edge-value":
        member = EDGE_MEMBERS[pick(0, len(EDGE_MEMBERS) - 1)]
        values = TIME_EDGES if member in _TIMES and pick(0, 3) else EDGE_VALUES
        lines[i] = edge_value(built, records[i], member, values[pick(0, len(values) - 1)])
    elif kind == "trust-range":  # the partner's trust file ends the first key's range, or trust in it
        first = b.trust().record_keys[0]
        signed = [j for j, raw in enumerate(records) if parse_record(raw).key_id == first.key_id]
        at = signed[pick(0, len(signed) - 1)]  # a record the key signed is no longer covered
        ended = {"compromised_from_index": at} if pick(0, 1) or at == 0 else {"valid_until_index": at}
        case.trust = dataclasses.replace(b.trust(), record_keys=(dataclasses.replace(first, **ended),))
    elif kind == "retro-compromise":  # a marker condemning a record its key already signed
        lines.append(
            build_compromise_record(
                origin=b.origin,
                index=n,
                signer=b.signer,
                compromised_key_id=parse_record(records[i]).key_id,
                compromised_from_index=i,
                recorded_at=b.time(n),
                reason="key leaked",
            )
        )
    elif kind == "rollback":
        _any_checkpoint(built, case, pick)
        size, _ = case.checkpoints[-1]
        smaller = [k for k, (s, _) in enumerate(case.checkpoints) if s < size]
        if not smaller:
            case.checkpoints.insert(0, (0, b.sign_checkpoint(0)))
            smaller = [0]
        older = smaller[pick(0, len(smaller) - 1)]
        if pick(0, 1):  # an older note filed under the newest size
            case.checkpoints[-1] = (size, case.checkpoints[older][1])
        else:  # the order given goes back
            case.checkpoints[older], case.checkpoints[-1] = case.checkpoints[-1], case.checkpoints[older]
    elif kind == "known-rollback":
        c = _any_checkpoint(built, case, pick)
        case.known = case.checkpoints[c][1]
        case.checkpoints = case.checkpoints[:c]  # the source went back to an older state
        del lines[pick(0, case.checkpoints[-1][0] if case.checkpoints else 0) :]
    elif kind == "known-fork":
        size, _ = case.checkpoints[_any_checkpoint(built, case, pick)]
        case.known = sign_checkpoint(Checkpoint(b.origin, size, bytes([pick(0, 255)]) * 32), b.note_signer)
    elif kind.startswith("checkpoint-"):
        c = _any_checkpoint(built, case, pick)
        size, note = case.checkpoints[c]
        if kind == "checkpoint-wrong-origin":
            note = b.sign_checkpoint(size, origin="other.example/log")
        elif kind == "checkpoint-unknown-key":
            note = b.sign_checkpoint(size, signer=STRANGER_NOTE)
        elif kind == "checkpoint-bad-signature":
            note = note.replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
        else:  # checkpoint-wrong-root
            note = sign_checkpoint(Checkpoint(b.origin, size, bytes([pick(0, 255)]) * 32), b.note_signer)
        case.checkpoints[c] = (size, note)
    return case


TAMPERS = (
    "none", "drop", "swap", "duplicate", "flip", "not-canonical", "edge-value", "unsigned-change", "resign",
    "equivocate", "truncate", "unknown-key", "wrong-origin", "illegal-transition", "trust-range",
    "retro-compromise", "rollback", "known-rollback", "known-fork",
    "checkpoint-wrong-origin", "checkpoint-unknown-key", "checkpoint-bad-signature", "checkpoint-wrong-root",
)  # fmt: skip


def plain_mapper(chunks: Iterable[BatchChunk]) -> Iterator[list[RecordFacts | CompactFacts]]:
    """The named steps only: full facts for every record, so ``feed_batch`` feeds each to ``feed``."""
    for lines, keys, check_all, _origin in chunks:
        yield list(facts_for_chunk((list(lines), keys, check_all)))


def worker_mapper(chunks: Iterable[BatchChunk]) -> Iterator[list[RecordFacts | CompactFacts]]:
    """What the process-pool workers do: ``batch_for_chunk`` on a pickled chunk, pickled facts back."""
    for lines, keys, check_all, origin in chunks:
        chunk = pickle.loads(pickle.dumps((list(lines), dict(keys), check_all, origin)))
        yield pickle.loads(pickle.dumps(batch_for_chunk(chunk)))


def outcome(case: Case, built: Built, mapper: Mapper | None, signatures: str, watch: str, chunk: int) -> Any:
    """Everything a verification run returns: the report (with counts) and the failure, if any."""
    try:
        report = verify_log(
            list(enumerate(case.lines, start=1)),
            case.checkpoints,
            case.trust or built.builder.trust(),
            signatures=signatures,
            known_checkpoint=case.known,
            mapper=mapper,
            watch=[watch],
            chunk_size=chunk,
        )
    except VerificationError as exc:
        assert exc.report is not None
        return "failed", exc.failure, exc.report.to_json()
    return "ok", report.to_json(), report.watched


def late_outcome(case: Case, built: Built, fast: bool, signatures: str, watch: str, chunk: int) -> Any:
    """Feed ``LogVerifier`` the records first and the checkpoints after them, as a follower would."""
    verifier = LogVerifier(case.trust or built.builder.trust(), signatures=signatures, watch=[watch])
    lines = list(enumerate(case.lines, start=1))
    try:
        with reporting(verifier.report):
            verifier.add_checkpoints([])
            for start in range(0, len(lines), chunk):
                part = lines[start : start + chunk]
                for _, raw in part:
                    verifier.announce(raw)
                keys, check_all = verifier.directory, verifier.check_all
                facts = batch_for_chunk((part, keys, check_all, verifier.origin)) if fast else None
                verifier.feed_batch(facts_for_chunk((part, keys, check_all)) if facts is None else facts)
            verifier.extend_checkpoints(case.checkpoints)
            report = verifier.finish()
    except VerificationError as exc:
        return "failed", exc.failure, verifier.report.to_json()
    return "ok", report.to_json(), report.watched


def check_same(kind: str, built: Built, pick: Pick, signatures: str = "") -> tuple[Any, bool]:
    """Tamper, verify every way, and require the same result; return it and whether the input changed."""
    case = tamper(kind, built, pick)
    untouched = Case(built.records, built.builder.checkpoints)
    signatures = signatures or ("all", "checkpoints")[pick(0, 1)]
    numbers = sorted(built.builder.chains) or ["none"]
    watch = numbers[pick(0, len(numbers) - 1)]
    chunk = pick(1, 40)
    plain = outcome(case, built, plain_mapper, signatures, watch, chunk)
    fast = outcome(case, built, None, signatures, watch, chunk)
    assert fast == plain, f"{kind}, signatures={signatures}, chunk={chunk}"
    assert outcome(case, built, worker_mapper, signatures, watch, chunk) == plain, kind
    late = late_outcome(case, built, False, signatures, watch, chunk)
    assert late_outcome(case, built, True, signatures, watch, chunk) == late, f"{kind}, checkpoints last"
    return plain, case != untouched


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_fast_path_equals_the_named_steps(data: st.DataObject) -> None:
    """Random valid logs, one random tamper class each: every way through gives one result."""

    def pick(lo: int, hi: int) -> int:
        return data.draw(st.integers(lo, max(lo, hi)))

    built = build_log(pick)
    check_same(data.draw(st.sampled_from(TAMPERS), label="tamper"), built, pick)


@pytest.mark.parametrize("kind", TAMPERS)
def test_every_tamper_class_gives_one_result(kind: str) -> None:
    """Each tamper class, whatever hypothesis draws; on an anchored log a change of a record is caught."""
    for seed, signatures in itertools.product(range(3), ("all", "checkpoints")):
        rng = random.Random(f"{kind}-{seed}")

        def pick(lo: int, hi: int, rng: random.Random = rng) -> int:
            return rng.randint(lo, max(lo, hi))

        built = build_log(pick)
        built.builder.checkpoint()  # everything anchored: every change of a record must be caught
        result, changed = check_same(kind, built, pick, signatures)
        caught = changed and kind != "duplicate"  # an exact redelivery is accepted (LOG.md §10.3)
        assert (result[0] == "failed") == caught, (kind, seed, signatures, result[1])


def test_every_borderline_value_gives_one_result() -> None:
    """Every member x borderline value, validly re-signed, in a first and a later record."""
    b = LogBuilder()
    built = Built(b, {b.signer.key_id: b.signer})
    b.add("E-1", "issued", "valid")
    b.add("E-1", "suspended", "suspended", reason="audit")
    b.add("E-2", "issued", "valid")
    b.checkpoint()
    b.add("E-1", "reinstated", "valid")
    for at in (0, 3):
        for member in EDGE_MEMBERS:
            for value in EDGE_VALUES:
                lines = list(b.records)
                lines[at] = edge_value(built, lines[at], member, value)
                case = Case(lines, list(b.checkpoints))
                for signatures in ("all", "checkpoints"):
                    plain = outcome(case, built, plain_mapper, signatures, "E-1", 2)
                    assert outcome(case, built, None, signatures, "E-1", 2) == plain, (at, member, value)


def test_the_fast_path_is_taken_and_the_plain_path_is_not() -> None:
    """Not vacuous: the fast run feeds few records one by one, the plain run feeds all of them."""
    b = LogBuilder()
    b.issue_many(60)
    b.checkpoint()
    fed: list[int] = []
    original = LogVerifier.feed

    def counting(self: LogVerifier, f: RecordFacts) -> None:
        fed.append(f.log_index)
        original(self, f)

    lines, trust = b.lines(), b.trust()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LogVerifier, "feed", counting)
        fast = verify_log(lines, b.checkpoints, trust)
        fast_fed, fed[:] = len(fed), []
        plain = verify_log(lines, b.checkpoints, trust, mapper=plain_mapper)
    assert fast.to_json() == plain.to_json()
    assert len(fed) == len(b.records) == 100 and fast_fed <= 2
