"""``verify_log`` and ``LogVerifier`` on logs built in memory: every step and its failure code."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.canonical import canonical_bytes, parse_canonical
from certlife.contracts.merkle import EMPTY_ROOT
from certlife.contracts.notes import Checkpoint, sign_checkpoint
from certlife.contracts.records import RecordSigner
from certlife.contracts.verification import (
    FAILURE_CODES,
    Check,
    LogVerifier,
    VerificationError,
    VerificationReport,
    record_facts,
    verify_log,
)
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _log() -> LogBuilder:
    """30 certificates, a checkpoint, a key rotation, 10 more, a checkpoint, one unanchored record."""
    b = LogBuilder()
    b.issue_many(30)
    b.checkpoint()
    b.rotate("k1")
    b.issue_many(10, "D")
    b.checkpoint()
    b.add("D-0000", "revoked", "revoked")
    return b


def _verify(b: LogBuilder, signatures: str = "all", chunk_size: int = 1000) -> VerificationReport:
    return verify_log(b.lines(), b.checkpoints, b.trust(), signatures=signatures, chunk_size=chunk_size)


def _failure(
    b: LogBuilder,
    lines: list[tuple[int, bytes]] | None = None,
    checkpoints: list[tuple[int | None, str]] | None = None,
) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verify_log(lines or b.lines(), b.checkpoints if checkpoints is None else checkpoints, b.trust())
    return caught.value


def test_valid_log_reports_every_check_with_counts() -> None:
    b = _log()
    report = _verify(b)
    n = len(b.records)
    assert report.to_json() | {"latestCheckpoint": None} == {
        "ok": True,
        "origin": b.origin,
        "signatures": "all",
        "records": n,
        "inputs": n,
        "checks": {
            "canonical": n,
            "chain": n - 1,
            "checkpoint-consistency": 1,
            "checkpoint-origin": 2,
            "checkpoint-root": 2,
            "checkpoint-signature": 2,
            "index": n,
            "key": n,
            "key-record": 1,
            "origin": n,
            "signature": n,
            "transition": n - 1,
        },
        "duplicates": [],
        "duplicateCount": 0,
        "checkpoints": 2,
        "latestCheckpoint": None,
        "unanchored": 1,
        "failure": None,
    }
    assert report.latest_checkpoint is not None and report.latest_checkpoint.time == b.time(n - 2)


def test_checkpoints_mode_checks_only_key_record_signatures() -> None:
    """Without per-record signatures, a bad signature under a signed root is not looked at."""
    b = LogBuilder()
    b.issue_many(5)
    data = parse_canonical(b.records[2])
    data["sig"] = base64.b64encode(bytes(64)).decode()
    b.records[2] = canonical_bytes(data)
    b.checkpoint()
    report = _verify(b, signatures="checkpoints")
    assert report.ok and report.checks["signature"] == 0 and report.checks["key"] == len(b.records)
    assert _failure(b).failure.code == "bad-signature"


def test_chunking_does_not_change_the_result() -> None:
    b = _log()
    assert _verify(b, chunk_size=1).to_json() == _verify(b, chunk_size=1000).to_json()


def test_rotation_is_followed_and_old_key_retired() -> None:
    """The trust file lists only the first key; the rotation record introduces the second."""
    b = LogBuilder()
    b.issue_many(3)
    old = b.signer
    b.rotate("k1")
    b.add("C-0001", "revoked", "revoked")
    assert _verify(b).ok
    b.add("C-0002", "revoked", "revoked", signer=old)
    failure = _failure(b).failure
    assert (failure.code, failure.index, failure.certificate) == ("key-out-of-range", 7, "C-0002")


def test_new_key_before_its_rotation_is_unknown() -> None:
    b = LogBuilder()
    b.issue_many(2)
    b.add("C-0001", "revoked", "revoked", signer=RecordSigner(Ed25519PrivateKey.generate()))
    assert _failure(b).failure.code == "unknown-key"


def test_compromise_of_an_unknown_key_is_a_bad_key_record() -> None:
    b = LogBuilder()
    b.issue_many(2)
    b.compromise(RecordSigner(Ed25519PrivateKey.generate()), 1)
    failure = _failure(b).failure
    assert (failure.code, failure.check) == ("key-record", "key-record")


@pytest.mark.parametrize(
    ("event", "status", "over", "code"),
    [
        ("issued", "valid", {"seq": 1, "prev": None}, "chain-seq"),
        ("suspended", "suspended", {"seq": 5}, "chain-seq"),
        ("suspended", "suspended", {"prev": "ab" * 32}, "chain-prev"),
        ("revoked", "valid", {}, "status-mismatch"),
    ],
)
def test_chain_and_transition_failures(event: str, status: str, over: dict[str, object], code: str) -> None:
    b = LogBuilder()
    b.issue_many(4)
    b.add("C-0001", event, status, **over)
    failure = _failure(b).failure
    assert (failure.code, failure.index, failure.certificate) == (code, len(b.records) - 1, "C-0001")


def test_record_of_an_unknown_certificate_that_is_not_issued() -> None:
    b = LogBuilder()
    b.issue_many(1)
    b.chains["X-1"] = (1, "cd" * 32, "valid")  # pretend it exists
    b.add("X-1", "suspended", "suspended")
    assert _failure(b).failure.code == "chain-seq"


def test_revoked_is_final() -> None:
    b = LogBuilder()
    b.issue_many(2)
    b.add("C-0001", "revoked", "revoked")
    b.add("C-0001", "reinstated", "valid")
    failure = _failure(b).failure
    assert (failure.code, failure.check) == ("illegal-transition", "transition")


def test_empty_log() -> None:
    b = LogBuilder()
    report = _verify(b)
    assert report.ok and report.records == 0 and report.unanchored == 0
    b.checkpoint()
    assert _verify(b).checks["checkpoint-root"] == 1
    bad = sign_checkpoint(Checkpoint(b.origin, 0, bytes(32)), b.note_signer)
    assert bytes(32) != EMPTY_ROOT
    assert _failure(b, checkpoints=[(0, bad)]).failure.code == "root-mismatch"


def test_checkpoint_order_misfiling_and_repeats() -> None:
    b = LogBuilder()
    b.issue_many(4)
    first = b.checkpoint()
    b.issue_many(2, "D")
    second = b.checkpoint()
    small, large = b.checkpoints[0][0], b.checkpoints[1][0]
    # Kafka order: a repeat of the same checkpoint is fine, going back is not.
    assert _verify(b).ok
    assert verify_log(b.lines(), [(None, first), (None, second), (None, second)], b.trust()).ok
    with pytest.raises(VerificationError) as caught:
        verify_log(b.lines(), [(None, second), (None, first)], b.trust())
    assert (caught.value.failure.code, caught.value.failure.checkpoint) == ("checkpoint-rollback", small)
    with pytest.raises(VerificationError) as caught:
        verify_log(b.lines(), [(small - 1, first)], b.trust())
    assert caught.value.failure.code == "checkpoint-misfiled"
    assert large > small


def test_equivocation_says_whether_the_copy_was_signed() -> None:
    b = LogBuilder()
    b.issue_many(3)
    data = parse_canonical(b.records[1])
    data["reason"] = "changed"
    lines = [*b.lines(), (99, canonical_bytes(data))]
    error = _failure(b, lines)
    assert (error.failure.code, error.failure.index, error.failure.position) == ("equivocation", 1, 99)
    assert "does not verify" in error.failure.message
    assert error.report is not None and error.report.failure == error.failure


def test_failure_report_keeps_counts_up_to_the_failure() -> None:
    b = LogBuilder()
    b.issue_many(6)
    lines = b.lines()
    del lines[3]
    error = _failure(b, lines)
    assert error.report.checks["index"] == 3 and error.report.records == 3
    assert error.report.to_json()["failure"]["code"] == "index-gap"


def test_log_verifier_can_be_fed_one_record_at_a_time() -> None:
    """A mirror feeds facts as messages arrive; the same checks run."""
    b = _log()
    verifier = LogVerifier(b.trust())
    verifier.add_checkpoints(b.checkpoints)
    for position, raw in b.lines():
        verifier.announce(raw)
        verifier.feed(record_facts(position, raw, verifier.directory, True))
    assert verifier.finish().records == len(b.records)


def test_key_conflict_when_two_public_keys_claim_one_key_id() -> None:
    b = LogBuilder()
    b.issue_many(2)
    verifier = LogVerifier(b.trust())
    verifier.add_checkpoints([])
    other = RecordSigner(Ed25519PrivateKey.generate()).public_raw
    facts = record_facts(1, b.records[0], verifier.directory, True)
    verifier.directory = {b.signer.key_id: other}
    with pytest.raises(VerificationError) as caught:
        verifier.feed(facts)
    assert caught.value.failure.code == "key-conflict"


def test_every_failure_code_has_a_check() -> None:
    assert set(FAILURE_CODES.values()) <= set(Check)
    assert len(FAILURE_CODES) == len(set(FAILURE_CODES))


def test_checkpoints_may_arrive_while_records_stream() -> None:
    """A mirror adds checkpoints as they come; past, current and future sizes are all checked."""
    b = LogBuilder()
    b.issue_many(6)
    early = b.sign_checkpoint(3)
    b.checkpoint()
    verifier = LogVerifier(b.trust())
    verifier.add_checkpoints([])
    for position, raw in b.lines()[:5]:
        verifier.feed(record_facts(position, raw, verifier.directory, True))
    assert verifier.size == 5
    verifier.extend_checkpoints([(None, early), (None, b.checkpoints[0][1])])
    assert [cp.size for cp in verifier.pending_checkpoints()] == [len(b.records)]
    assert verifier.checks["checkpoint-root"] == 1  # size 3, rebuilt from the kept leaf hashes
    for position, raw in b.lines()[5:]:
        verifier.feed(record_facts(position, raw, verifier.directory, True))
    assert verifier.pending_checkpoints() == [] and verifier.checks["checkpoint-root"] == 2
    with pytest.raises(VerificationError) as caught:
        verifier.extend_checkpoints([(None, early)])
    assert caught.value.failure.code == "checkpoint-rollback"
    bad = sign_checkpoint(Checkpoint(b.origin, len(b.records) + 1, bytes(32)), b.note_signer)
    verifier.extend_checkpoints([(None, bad)])
    with pytest.raises(VerificationError) as caught:
        verifier.finish()
    assert caught.value.failure.code == "log-truncated"


def test_signing_input_cut_from_the_bytes_equals_the_encoded_one() -> None:
    """The fast path of the workers signs exactly what ``Record.signed_bytes`` encodes."""
    from certlife.contracts.records import parse_record
    from certlife.contracts.verification.facts import _signing_input

    b = LogBuilder()
    b.add("C-1", "issued", "valid", reason='tricky ,"sig":"x" \\\\" text')
    for raw in b.records:
        record = parse_record(raw)
        assert _signing_input(record) == record.signed_bytes()
