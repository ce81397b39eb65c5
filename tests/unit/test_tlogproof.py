"""C2SP tlog-proof: strict parsing, round trip, the spec example, and verification of certlife's use."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest

from certlife.contracts.cosignature import CosignatureSigner, add_signature_lines
from certlife.contracts.merkle import inclusion_proof, leaf_hash
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.policy import WitnessPolicy
from certlife.contracts.tlogproof import (
    MAX_TLOG_PROOF_SIZE,
    TLOG_PROOF_HEADER,
    TlogProof,
    TlogProofError,
    is_tlog_proof,
)
from certlife.contracts.verification import VerificationError
from certlife.contracts.verification.tlogproof import verify_tlog_proof
from tests.unit.logbuilder import LogBuilder, private_key

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[1] / "vectors" / "c2sp" / "examples.json"


def _spec_example() -> str:
    if not EXAMPLES.is_file():
        pytest.skip(f"{EXAMPLES} is not on this machine")
    (example,) = [e for e in json.loads(EXAMPLES.read_text()) if e["kind"] == "proof"]
    text: str = example["text"]
    return text


def _log() -> LogBuilder:
    """Records by the first key, a rotation, then records by the second key."""
    b = LogBuilder()
    b.issue_many(9)
    b.checkpoint()
    b.rotate("k1")
    b.add("C-0004", "suspended", "suspended")
    b.issue_many(5, "D")
    b.checkpoint()
    return b


def _proof(b: LogBuilder, index: int = 4, note: str | None = None) -> TlogProof:
    size, newest = b.checkpoints[-1]
    leaves = [leaf_hash(raw) for raw in b.records]
    return TlogProof(index, tuple(inclusion_proof(leaves, index, size)), note or newest, b.records[index])


def _code(proof: TlogProof | bytes, b: LogBuilder, known: str | None = None, **kw: object) -> str:
    with pytest.raises(VerificationError) as caught:
        verify_tlog_proof(proof, b.trust(), known, **kw)  # type: ignore[arg-type]
    return caught.value.failure.code


def test_the_spec_example_parses_and_encodes_back_byte_for_byte() -> None:
    text = _spec_example()
    data = text.encode()
    assert is_tlog_proof(data)
    proof = TlogProof.parse(data)
    assert proof.index == 73894 and len(proof.proof) == 5
    assert proof.extra is not None and proof.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    assert proof.proof[0] == base64.b64decode("gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=")
    assert (proof.parsed.origin, proof.parsed.size) == ("example.com/fancylog", 109482)
    assert proof.checkpoint.count("\n— ") == 4  # the log's signature and three cosignatures, verbatim
    assert proof.to_bytes() == data


def test_round_trip_with_and_without_extra_and_with_an_empty_proof() -> None:
    b = _log()
    proof = _proof(b)
    assert TlogProof.parse(proof.to_bytes()) == proof
    bare = dataclasses.replace(proof, extra=None)
    assert TlogProof.parse(bare.to_bytes()) == bare and b"\nextra " not in bare.to_bytes()
    one = LogBuilder()
    one.add("C-0000", "issued", "valid")
    single = TlogProof(0, (), one.checkpoint(), one.records[0])
    text = single.to_text()
    assert text.startswith(f"{TLOG_PROOF_HEADER}\nextra ") and "\nindex 0\n\n" in text
    assert TlogProof.parse(single.to_bytes()) == single
    assert verify_tlog_proof(single, one.trust()).ok


def _swap(text: str, old: str, new: str) -> bytes:
    assert old in text
    return text.replace(old, new, 1).encode()


def _malformed() -> list[tuple[str, object]]:
    return [
        ("the first line", lambda t: _swap(t, "tlog-proof@v1", "tlog-proof@v2")),
        ("the first line", lambda t: b"\xef\xbb\xbf" + t.encode()),  # a byte-order mark
        ("index N", lambda t: _swap(t, "index 4\n", "index 04\n")),
        ("index N", lambda t: _swap(t, "index 4\n", "index -4\n")),
        ("index N", lambda t: _swap(t, "index 4\n", "index  4\n")),
        ("no index line", lambda t: t[: t.index("index 4")].rstrip("\n").encode() + b"\n\n" + _note(t)),
        ("extra", lambda t: _swap(t, "\nextra ", "\nextra !")),
        ("proof hash", lambda t: _swap(t, "index 4\n", "index 4\nAAAA\n")),
        ("proof hash", lambda t: _swap(t, "index 4\n", "index 4\nAAAA AAAA\n")),
        (
            "at most",
            lambda t: _swap(t, "index 4\n", "index 4\n" + (base64.b64encode(bytes(32)).decode() + "\n") * 5),
        ),
        ("not below", lambda t: _swap(t, "index 4\n", "index 99\n")),
        ("no empty line", lambda t: t.replace("\n\n", "\n").encode()),
        ("signature line", lambda t: _swap(t, "\n— ", "\n-- ")),
        ("signature line", lambda t: (t + "trailing\n").encode()),
        ("checkpoint", lambda t: _swap(t, "\n26\n", "\n026\n")),
        ("control character", lambda t: t.replace("\n— ", "\r\n— ").encode()),
        ("newline", lambda t: t.encode()[:-1]),
        ("UTF-8", lambda t: t.encode() + b"\xff"),
        ("larger than", lambda t: t.encode() + b"x" * MAX_TLOG_PROOF_SIZE),
    ]


def _note(text: str) -> bytes:
    return text[text.index("\n\n") + 2 :].encode()


@pytest.mark.parametrize(("why", "mutate"), _malformed())
def test_malformed_proofs_fail_parsing_with_what_is_wrong(why: str, mutate: object) -> None:
    b = _log()
    data = mutate(_proof(b).to_text())  # type: ignore[operator]
    with pytest.raises(TlogProofError) as caught:
        TlogProof.parse(data)
    assert caught.value.code == "malformed-tlog-proof" and why in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(TlogProofError):
        verify_tlog_proof(data, b.trust())


def test_a_record_over_the_limit_is_refused_before_decoding() -> None:
    b = _log()
    huge = dataclasses.replace(_proof(b), extra=b"x" * (1 << 20))
    assert TlogProof.parse(huge.to_bytes()).extra == huge.extra  # exactly the limit: parses
    with pytest.raises(TlogProofError, match="record limit"):
        TlogProof.parse(dataclasses.replace(huge, extra=huge.extra + b"xxxx").to_bytes())  # type: ignore[operator]


def test_a_proof_without_the_record_is_not_a_certlife_proof() -> None:
    b = _log()
    with pytest.raises(TlogProofError, match="no extra line"):
        verify_tlog_proof(dataclasses.replace(_proof(b), extra=None).to_bytes(), b.trust())


def test_a_valid_proof_verifies_with_the_bundle_report() -> None:
    b = _log()
    report = verify_tlog_proof(_proof(b).to_bytes(), b.trust()).to_json()
    assert report["ok"] and report["kind"] == "tlog-proof" and report["index"] == 4
    assert report["checkpoint"]["size"] == b.checkpoints[-1][0]
    assert report["checks"]["inclusion"] == 1 and report["checks"]["signature"] == 1


def test_tampered_record_proof_hash_and_checkpoint_each_fail() -> None:
    b = _log()
    proof = _proof(b)
    assert proof.extra is not None
    changed = proof.extra.replace(b'"status":"valid"', b'"status":"withdrawn"')
    assert changed != proof.extra
    assert _code(dataclasses.replace(proof, extra=changed), b) == "inclusion-proof"
    assert _code(dataclasses.replace(proof, extra=b"{" + proof.extra), b) == "not-json"
    assert _code(dataclasses.replace(proof, index=5), b) == "bundle-format"  # the record says 4
    hashes = list(proof.proof)
    hashes[-1] = bytes([hashes[-1][0] ^ 1]) + hashes[-1][1:]
    assert _code(dataclasses.replace(proof, proof=tuple(hashes)), b) == "inclusion-proof"
    assert _code(dataclasses.replace(proof, proof=proof.proof[:-1]), b) == "inclusion-proof"
    size = b.checkpoints[-1][0]
    root_line = base64.b64encode(b.frontier(size).root()).decode()
    other_root = base64.b64encode(bytes(32)).decode()
    forged = proof.checkpoint.replace(root_line, other_root)
    assert _code(dataclasses.replace(proof, checkpoint=forged), b) == "checkpoint-bad-signature"
    stranger = b.sign_checkpoint(size, signer=NoteSigner(b.origin, private_key("stranger")))
    assert _code(dataclasses.replace(proof, checkpoint=stranger), b) == "checkpoint-unverified"
    elsewhere = b.sign_checkpoint(size, origin="other.example/log")
    assert _code(dataclasses.replace(proof, checkpoint=elsewhere), b) == "checkpoint-wrong-origin"


def test_no_key_records_a_rotated_key_is_unknown_and_the_trust_file_can_list_it() -> None:
    b = _log()
    index = max(i for i, raw in enumerate(b.records) if b'"number":"C-0004"' in raw)
    assert _code(_proof(b, index), b) == "unknown-key"  # signed by k1, which only the log introduced
    from certlife.contracts.trust import TrustedKey, TrustFile

    trust = b.trust()
    second = TrustedKey(b.signer.key_id, b.signer.public_raw, valid_from_index=10)
    listed = TrustFile(trust.origin, (*trust.record_keys, second), trust.note_keys)
    assert verify_tlog_proof(_proof(b, index), listed).ok


def test_known_checkpoint_rules_without_a_consistency_proof() -> None:
    b = _log()
    proof = _proof(b)
    size, newest = b.checkpoints[-1]
    report = verify_tlog_proof(proof, b.trust(), newest)
    assert report.ok and report.details["knownCheckpoint"]["size"] == size
    assert _code(proof, b, b.checkpoints[0][1]) == "consistency-missing"
    forked = sign_checkpoint(Checkpoint(b.origin, size, bytes(32)), b.note_signer)
    assert _code(proof, b, forked) == "checkpoint-fork"
    b.issue_many(1, "E")
    assert _code(proof, b, b.sign_checkpoint()) == "checkpoint-rollback"


def test_cosignatures_travel_verbatim_and_meet_a_witness_policy() -> None:
    b = _log()
    note = b.checkpoints[-1][1]
    body = note[: note.rfind("\n\n") + 1]
    w1 = CosignatureSigner("w1.example/witness", private_key("w1"))
    w2 = CosignatureSigner("w2.example/witness", private_key("w2"))
    cosigned = add_signature_lines(note, [w1.cosign(body, 1_700_000_000)])
    proof = _proof(b, note=cosigned)
    assert TlogProof.parse(proof.to_bytes()).checkpoint == cosigned
    policy = WitnessPolicy.parse(
        f"witness w1 {w1.vkey()}\nwitness w2 {w2.vkey()}\ngroup g 1 w1 w2\nquorum g\n"
    )
    report = verify_tlog_proof(proof.to_bytes(), b.trust(), policy=policy)
    assert report.ok and report.details["checkpoint"]["cosignedBy"] == ["w1"]
    assert report.checks["checkpoint-witnesses"] == 1
    assert verify_tlog_proof(proof, b.trust()).ok  # no policy: cosignatures of unknown keys are ignored
    both = f"witness w1 {w1.vkey()}\nwitness w2 {w2.vkey()}\ngroup g all w1 w2\nquorum g\n"
    assert _code(proof, b, policy=WitnessPolicy.parse(both)) == "checkpoint-quorum"
    strict = b.trust().with_policy(both)  # the trust file's witnessPolicy applies by default
    with pytest.raises(VerificationError) as caught:
        verify_tlog_proof(proof, strict)
    assert (
        caught.value.failure.code == "checkpoint-quorum" and "cosigned by w1" in caught.value.failure.message
    )
    twice = add_signature_lines(cosigned, [w2.cosign(body, 1_700_000_001)])
    report = verify_tlog_proof(dataclasses.replace(proof, checkpoint=twice), strict)
    assert report.ok and report.details["checkpoint"]["cosignedBy"] == ["w1", "w2"]
