"""Keys learnt while checking: records whose facts were computed before their key was known.

Workers get the key directory as it stood when their chunk was dispatched;
the verifier learns a rotation's new key when it checks the rotation record
and checks again, with the key, every later record whose signature was due
but could not be checked. Whatever the chunking, the result is the one of
checking record by record with every key known in advance.
"""

from __future__ import annotations

import base64

import pytest

from certlife.contracts.canonical import canonical_bytes, parse_canonical
from certlife.contracts.verification import LogVerifier, VerificationError, record_facts, verify_log
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _log() -> LogBuilder:
    b = LogBuilder()
    b.issue_many(6)
    b.rotate("k1")
    b.issue_many(6, "D")
    b.rotate("k2")  # a key record signed by k1, learnt from the first rotation
    b.issue_many(3, "E")
    b.checkpoint()
    return b


def _one_by_one(b: LogBuilder, lines: list[tuple[int, bytes]], signatures: str) -> object:
    """Each record checked alone, with the directory holding every key of the log from the start."""
    verifier = LogVerifier(b.trust(), signatures=signatures)
    for _, raw in lines:
        verifier.announce(raw)
    try:
        verifier.add_checkpoints(b.checkpoints)
        for position, raw in lines:
            verifier.feed(record_facts(position, raw, verifier.directory, verifier.check_all))
        return verifier.finish().to_json()
    except VerificationError as exc:
        return exc.failure


def _chunked(b: LogBuilder, lines: list[tuple[int, bytes]], signatures: str, chunk: int) -> object:
    try:
        return verify_log(lines, b.checkpoints, b.trust(), signatures=signatures, chunk_size=chunk).to_json()
    except VerificationError as exc:
        return exc.failure


@pytest.mark.parametrize("signatures", ["all", "checkpoints"])
@pytest.mark.parametrize("chunk", [1, 4, 100])
def test_a_valid_log_verifies_in_any_chunking(signatures: str, chunk: int) -> None:
    b = _log()
    result = _chunked(b, b.lines(), signatures, chunk)
    assert result == _one_by_one(b, b.lines(), signatures)
    assert isinstance(result, dict) and result["ok"] and result["checks"]["key-record"] == 2


@pytest.mark.parametrize("signatures", ["all", "checkpoints"])
@pytest.mark.parametrize("chunk", [1, 4, 100])
def test_a_bad_signature_by_a_new_key_is_found(signatures: str, chunk: int) -> None:
    """A record after the rotation, its signature altered: bad-signature (all) or root mismatch."""
    b = _log()
    lines = b.lines()
    position, raw = lines[9]
    obj = parse_canonical(raw)
    sig = bytearray(base64.b64decode(obj["sig"]))
    sig[0] ^= 1
    obj["sig"] = base64.b64encode(bytes(sig)).decode()
    lines[9] = (position, canonical_bytes(obj))
    result = _chunked(b, lines, signatures, chunk)
    assert result == _one_by_one(b, lines, signatures)
    assert getattr(result, "code", None) == ("bad-signature" if signatures == "all" else "root-mismatch")


def test_a_record_signed_by_a_key_before_its_rotation_is_refused() -> None:
    b = LogBuilder()
    b.issue_many(3)
    early = LogBuilder(label="k1")
    early.records = list(b.records)
    early.add("X-1", "issued", "valid")  # signed by k1 at an index before the rotation that brings k1
    b.records.append(early.records[-1])
    b.rotate("k1")
    for chunk in (1, 100):
        result = _chunked(b, b.lines(), "all", chunk)
        assert result == _one_by_one(b, b.lines(), "all")
        assert getattr(result, "code", None) == "unknown-key"
