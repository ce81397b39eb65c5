"""trust.json parsing and the key ring that follows rotations and compromises."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.errors import SignatureError, TrustError
from certlife.contracts.notes import NoteSigner
from certlife.contracts.records import (
    RecordSigner,
    build_certificate_record,
    build_compromise_record,
    build_rotation_record,
    parse_record,
)
from certlife.contracts.trust import KeyRing, TrustedKey, TrustFile

pytestmark = pytest.mark.unit

ORIGIN = "certlife.example/log"
T = "2025-01-31T12:00:00Z"
CERT = {
    "number": "N-1", "scheme": "S", "holder": "H", "manufacturer": "M", "factories": [],
    "product": "P", "models": [], "standards": [], "scope": "X",
    "validFrom": "2025-01-01", "validUntil": "2026-01-01",
}  # fmt: skip


def _trust(signer: RecordSigner, **over: object) -> dict:
    key = {
        "keyId": signer.key_id, "publicKey": base64.b64encode(signer.public_raw).decode(),
        "validFromIndex": 0, "validUntilIndex": None, "compromisedFromIndex": None,
    }  # fmt: skip
    key.update(over)
    note = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    return {"v": 1, "origin": ORIGIN, "recordKeys": [key], "noteKeys": [note.verifier_key()]}


def _issue(signer: RecordSigner, index: int) -> bytes:
    return build_certificate_record(
        origin=ORIGIN, index=index, certificate=CERT, event="issued", status="valid", seq=1,
        prev=None, reason=None, effective_at=T, recorded_at=T, signer=signer,
    )  # fmt: skip


def test_covers_implements_the_normative_range() -> None:
    key = TrustedKey("00" * 8, bytes(32), 2, 5, 4)
    assert [key.covers(i) for i in range(7)] == [False, False, True, True, False, False, False]
    assert TrustedKey("00" * 8, bytes(32), 0, None, None).covers(10**9)


def test_trust_file_round_trip_pretty_and_canonical() -> None:
    signer = RecordSigner(Ed25519PrivateKey.generate())
    data = _trust(signer)
    trust = TrustFile.from_bytes(json.dumps(data, indent=2).encode())
    assert trust.to_json() == data
    assert TrustFile.from_bytes(trust.to_bytes()) == trust
    assert trust.to_bytes().startswith(b'{"noteKeys":[')
    ring = KeyRing(trust)
    assert [v.name for v in ring.note_verifiers()] == [ORIGIN]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(v=2),
        lambda d: d.update(origin=""),
        lambda d: d.update(extra=1),
        lambda d: d.update(noteKeys=["not a vkey"]),
        lambda d: d.update(recordKeys=[]),
        lambda d: d["recordKeys"][0].update(keyId="00" * 8),
        lambda d: d["recordKeys"][0].update(validFromIndex=3, validUntilIndex=3),
        lambda d: d["recordKeys"][0].update(compromisedFromIndex=-1),
        lambda d: d["recordKeys"][0].pop("compromisedFromIndex"),
        lambda d: d["recordKeys"].append(dict(d["recordKeys"][0])),
    ],
)
def test_malformed_trust_files(mutate) -> None:
    data = _trust(RecordSigner(Ed25519PrivateKey.generate()))
    mutate(data)
    with pytest.raises(TrustError, match="malformed trust file"):
        TrustFile.from_bytes(json.dumps(data).encode())


def test_duplicate_members_and_floats_are_rejected() -> None:
    with pytest.raises(TrustError, match="duplicate"):
        TrustFile.from_bytes(b'{"v":1,"v":1}')
    with pytest.raises(TrustError, match="not an integer"):
        TrustFile.from_bytes(b'{"v":1.0}')


def test_key_for_distinguishes_failures() -> None:
    signer = RecordSigner(Ed25519PrivateKey.generate())
    ring = KeyRing(TrustFile.from_dict(_trust(signer, validFromIndex=1, validUntilIndex=5,
                                              compromisedFromIndex=3)))  # fmt: skip
    assert ring.key_for(signer.key_id, 2).public_raw == signer.public_raw
    codes = []
    for key_id, index in ((signer.key_id, 0), (signer.key_id, 3), ("ff" * 8, 2)):
        with pytest.raises(TrustError) as info:
            ring.key_for(key_id, index)
        codes.append(info.value.code)
    assert codes == ["key-out-of-range", "key-compromised", "unknown-key"]


def test_ring_follows_rotation_then_compromise() -> None:
    old, new = RecordSigner(Ed25519PrivateKey.generate()), RecordSigner(Ed25519PrivateKey.generate())
    ring = KeyRing(TrustFile.from_dict(_trust(old)))
    ring.verify(parse_record(_issue(old, 0)))
    rotation = build_rotation_record(
        origin=ORIGIN, index=1, outgoing=old, incoming=new, recorded_at=T, reason=None
    )
    ring.verify(parse_record(rotation))
    ring.verify(parse_record(_issue(new, 2)))
    with pytest.raises(TrustError, match="valid only in") as info:
        ring.verify(parse_record(_issue(old, 2)))
    assert info.value.code == "key-out-of-range"
    with pytest.raises(TrustError, match="unknown key"):
        KeyRing(TrustFile.from_dict(_trust(old))).verify(parse_record(_issue(new, 2)))

    compromise = build_compromise_record(
        origin=ORIGIN, index=3, signer=new, compromised_key_id=old.key_id,
        compromised_from_index=1, recorded_at=T, reason="leak",
    )  # fmt: skip
    ring.verify(parse_record(compromise))
    with pytest.raises(TrustError) as info:
        ring.key_for(old.key_id, 1)
    assert info.value.code == "key-compromised"
    assert ring.key_for(old.key_id, 0).key_id == old.key_id
    state = {k.key_id: k for k in ring.trust_file().record_keys}
    assert (state[old.key_id].valid_until_index, state[old.key_id].compromised_from_index) == (2, 1)
    assert state[new.key_id].valid_from_index == 2


def test_verify_rejects_forged_signature_before_applying() -> None:
    old, new = RecordSigner(Ed25519PrivateKey.generate()), RecordSigner(Ed25519PrivateKey.generate())
    ring = KeyRing(TrustFile.from_dict(_trust(old)))
    forged = parse_record(
        build_rotation_record(origin=ORIGIN, index=0, outgoing=new, incoming=old, recorded_at=T,
                              reason=None)
    )  # fmt: skip
    with pytest.raises(TrustError, match="unknown key"):
        ring.verify(forged)
    data = json.loads(_issue(old, 0))
    data["certificate"]["number"] = "N-2"
    with pytest.raises(SignatureError):
        ring.verify(parse_record(canonical_bytes(data)))
    assert [k.key_id for k in ring.trusted_keys()] == [old.key_id]
