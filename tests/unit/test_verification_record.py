"""``verify_record``: one record against a trust file, step by step."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.canonical import canonical_bytes, parse_canonical
from certlife.contracts.records import RecordSigner
from certlife.contracts.verification import VerificationError, verify_record
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _code(raw: bytes, b: LogBuilder, **key: object) -> tuple[str, str]:
    with pytest.raises(VerificationError) as caught:
        verify_record(raw, b.trust(**key))
    return caught.value.failure.code, caught.value.failure.check


def test_valid_record_reports_its_checks_and_summary() -> None:
    b = LogBuilder()
    raw = b.add("C-1", "issued", "valid")
    report = verify_record(raw, b.trust()).to_json()
    assert report["ok"] and report["failure"] is None
    assert report["checks"] == {"canonical": 1, "key": 1, "origin": 1, "signature": 1}
    assert (report["index"], report["certificate"], report["status"]) == (0, "C-1", "valid")


def test_each_step_fails_with_its_code() -> None:
    b = LogBuilder()
    raw = b.add("C-1", "issued", "valid")
    assert _code(raw + b"\n", b) == ("not-canonical", "canonical")
    assert _code(b"{nope", b) == ("not-json", "canonical")
    assert _code(b'{"v":1}', b) == ("record-format", "canonical")
    other = LogBuilder(origin="other.example/log")
    assert _code(other.add("C-1", "issued", "valid"), b) == ("wrong-origin", "origin")
    stranger = b.cert_record("C-2", "issued", "valid", signer=RecordSigner(Ed25519PrivateKey.generate()))
    assert _code(stranger, b) == ("unknown-key", "key")
    assert _code(raw, b, valid_from_index=5) == ("key-out-of-range", "key")
    assert _code(raw, b, compromised_from_index=0) == ("key-compromised", "key")
    data = parse_canonical(raw)
    data["sig"] = base64.b64encode(bytes(64)).decode()
    assert _code(canonical_bytes(data), b) == ("bad-signature", "signature")


def test_rotation_record_needs_both_signatures() -> None:
    b = LogBuilder()
    raw = b.rotate("k1")
    assert verify_record(raw, b.trust()).ok
    data = parse_canonical(raw)
    data["newKeySig"] = data["sig"]
    with pytest.raises(VerificationError) as caught:
        verify_record(canonical_bytes(data), b.trust())
    assert caught.value.failure.code == "bad-signature" and "newKeySig" in caught.value.failure.message
    assert caught.value.report.checks["key"] == 1 and "signature" not in caught.value.report.checks


def test_report_of_a_failure_keeps_the_checks_passed() -> None:
    b = LogBuilder()
    raw = b.add("C-1", "issued", "valid")
    trust = b.trust()
    bad = dataclasses.replace(trust, origin="x.example/log")
    with pytest.raises(VerificationError) as caught:
        verify_record(raw, bad)
    assert caught.value.report.to_json()["checks"] == {"canonical": 1}
