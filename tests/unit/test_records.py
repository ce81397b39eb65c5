"""v1 verification records: exact bytes, strict parsing, signatures and tampering."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.errors import RecordFormatError, SignatureError
from certlife.contracts.records import (
    CERTIFICATE_FIELDS,
    SIGNING_PREFIX,
    RecordSigner,
    build_certificate_record,
    build_compromise_record,
    build_rotation_record,
    parse_record,
    record_hash,
    signing_input,
    verify_record_signature,
)

pytestmark = pytest.mark.unit

ORIGIN = "certlife.example/log"
CERT = {
    "number": "CL-2025-0001",
    "scheme": "CB-EMC",
    "holder": "Müller Präzision GmbH",
    "manufacturer": "Müller Präzision GmbH",
    "factories": ["Stuttgart"],
    "product": "Power supply",
    "models": ["PS-100", "PS-200"],
    "standards": ["IEC 62368-1:2018"],
    "scope": "Safety",
    "validFrom": "2025-01-01",
    "validUntil": "2030-01-01",
}
T = "2025-01-31T12:00:00Z"


def _signer() -> RecordSigner:
    return RecordSigner(Ed25519PrivateKey.generate())


def _issue(signer: RecordSigner, index: int = 0, **over: object) -> bytes:
    args: dict = dict(
        origin=ORIGIN, index=index, certificate=CERT, event="issued", status="valid", seq=1,
        prev=None, reason=None, effective_at=T, recorded_at=T, signer=signer,
    )  # fmt: skip
    args.update(over)
    return build_certificate_record(**args)


def test_certificate_record_bytes_are_canonical_and_verify() -> None:
    signer = _signer()
    raw = _issue(signer)
    obj = json.loads(raw)
    assert raw == canonical_bytes(obj) and not raw.endswith(b"\n")
    assert set(obj) == {
        "v", "origin", "index", "kind", "keyId", "sig", "certificate", "event", "status",
        "seq", "prev", "reason", "effectiveAt", "recordedAt",
    }  # fmt: skip
    assert tuple(obj["certificate"]) == tuple(sorted(CERTIFICATE_FIELDS))
    record = parse_record(raw)
    assert (record.index, record.kind, record.number, record.seq) == (0, "certificate", CERT["number"], 1)
    assert record.key_id == signer.key_id == hashlib.sha256(signer.public_raw).hexdigest()[:16]
    assert record.event == "issued" and record.status == "valid" and record.prev is None
    assert record.raw == raw and record.data == obj
    verify_record_signature(record, signer.public_raw)


@pytest.mark.parametrize(
    "holder",
    [
        "Müller Präzision GmbH",  # plain BMP text: orjson's encoding is the canonical one
        'Zhōng \U0001d49c\U0001f50c Ltd "quoted" \\ back',  # supplementary characters: the full encoder
        "\ufb01ne \u00e9\u0301 tab-free",  # characters whose key order/escapes differ by encoder elsewhere
    ],
)
def test_the_signature_covers_exactly_what_a_verifier_reconstructs(holder: str) -> None:
    """finish_record signs the body without the type walk of signing_input; the verifier's signing
    input (from the parsed record) must still be byte for byte what was signed."""
    signer = _signer()
    raw = _issue(signer, certificate={**CERT, "holder": holder}, reason="audit \U0001f600 finding")
    record = parse_record(raw)
    assert record.data["certificate"]["holder"] == holder and raw == canonical_bytes(record.data)
    verify_record_signature(record, signer.public_raw)
    message = signing_input(record.data)
    assert signer.sign(message) == base64.b64decode(record.data["sig"])  # Ed25519 is deterministic


@pytest.mark.parametrize(
    ("over", "plain"),
    [
        ({}, True),
        ({"certificate": {**CERT, "holder": 'Quoted "q" \\ back'}, "reason": 'said "no"'}, True),  # escapes
        ({"event": "suspended", "status": "suspended", "seq": 2, "prev": "ab" * 32, "reason": "audit"}, True),
        ({"certificate": {**CERT, "holder": "Zh\U0001f50c Ltd"}}, True),
        ({"origin": 'log "quoted"'}, False),  # JCS escapes the origin: not a plain record
        ({"index": 10**15}, False),  # more digits than the plain pattern takes
    ],
)
def test_one_pass_signing_gives_the_bytes_of_the_general_path(
    over: dict, plain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain certificate record is encoded once with a stand-in signature and signed on the cut
    the verifier makes; the bytes must be exactly those of the general path (canonical body,
    signed, encoded again), and any other record must take the general path."""
    from certlife.contracts import record_signing
    from certlife.contracts.verification.plain import recognise

    signer = _signer()
    taken: list[bytes | None] = []
    one_pass = record_signing._finish_plain

    def spy(record: dict, signer: RecordSigner) -> bytes | None:
        taken.append(one_pass(record, signer))
        return taken[-1]

    monkeypatch.setattr(record_signing, "_finish_plain", spy)
    fast = _issue(signer, **over)
    monkeypatch.setattr(record_signing, "_finish_plain", lambda record, signer: None)
    general = _issue(signer, **over)
    assert fast == general  # Ed25519 is deterministic: same signing input, same record
    assert (taken[0] is not None) is plain
    assert record_signing._STAND_IN_SIG.encode() not in fast
    record = parse_record(fast)
    verify_record_signature(record, signer.public_raw)
    assert (recognise(fast, {}, False, record.data["origin"]) is not None) is plain


def test_signing_input_is_prefix_plus_jcs_without_signatures() -> None:
    raw = _issue(_signer())
    obj = json.loads(raw)
    expected = b"certlife-record-v1\n" + canonical_bytes({k: v for k, v in obj.items() if k != "sig"})
    assert signing_input(obj) == expected == parse_record(raw).signed_bytes()
    assert SIGNING_PREFIX == b"certlife-record-v1\n"


def test_chain_with_prev_hash() -> None:
    signer = _signer()
    first = _issue(signer)
    second = _issue(signer, 1, event="suspended", status="suspended", seq=2, prev=record_hash(first))
    assert parse_record(second).prev == hashlib.sha256(first).hexdigest()


def test_tampered_record_fails_signature() -> None:
    signer = _signer()
    obj = json.loads(_issue(signer))
    obj["status"] = "suspended"
    with pytest.raises(SignatureError, match="does not verify"):
        verify_record_signature(parse_record(canonical_bytes(obj)), signer.public_raw)
    with pytest.raises(SignatureError) as info:
        verify_record_signature(parse_record(_issue(signer)), _signer().public_raw)
    assert info.value.code == "wrong-key"


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("v", 2), ("v", True), ("index", -1), ("index", "0"), ("kind", "other"),
        ("keyId", "ABCDEF0123456789"), ("keyId", "abc"), ("sig", "AAAA"),
        ("event", "deleted"), ("status", "active"), ("seq", 0), ("seq", 2),
        ("prev", "ab" * 32), ("reason", 5), ("effectiveAt", "2025-01-31T12:00:00+00:00"),
        ("recordedAt", "2025-02-30T12:00:00Z"), ("recordedAt", "2025-01-31 12:00:00Z"),
        ("origin", ""), ("extra", 1),
    ],
)  # fmt: skip
def test_bad_members_are_named(member: str, value: object) -> None:
    obj = json.loads(_issue(_signer()))
    obj[member] = value
    with pytest.raises(RecordFormatError) as info:
        parse_record(canonical_bytes(obj))
    # seq 2 with a null prev breaks the seq/prev pairing, reported on 'prev'.
    named = "prev" if (member, value) == ("seq", 2) else member
    assert str(info.value).startswith(f"member '{named}'")


@pytest.mark.parametrize("member", ["sig", "recordedAt", "certificate", "event"])
def test_missing_members_are_named(member: str) -> None:
    obj = json.loads(_issue(_signer()))
    del obj[member]
    with pytest.raises(RecordFormatError, match=f"'{member}': missing"):
        parse_record(canonical_bytes(obj))


def test_certificate_members_are_checked() -> None:
    obj = json.loads(_issue(_signer()))
    del obj["certificate"]["scope"]
    with pytest.raises(RecordFormatError, match="'scope': missing in certificate"):
        parse_record(canonical_bytes(obj))
    obj = json.loads(_issue(_signer()))
    obj["certificate"]["models"] = "PS-100"
    with pytest.raises(RecordFormatError, match=r"certificate\.models"):
        parse_record(canonical_bytes(obj))


def test_non_canonical_bytes_are_rejected() -> None:
    raw = _issue(_signer())
    with pytest.raises(RecordFormatError, match="not canonical"):
        parse_record(raw + b"\n")
    with pytest.raises(RecordFormatError, match="not canonical"):
        parse_record(json.dumps(json.loads(raw)).encode())


def test_rotation_record_carries_both_signatures() -> None:
    old, new = _signer(), _signer()
    raw = build_rotation_record(
        origin=ORIGIN, index=5, outgoing=old, incoming=new, recorded_at=T, reason="scheduled"
    )
    record = parse_record(raw)
    assert record.kind == "key" and record.action == "rotate" and record.key_id == old.key_id
    assert record.new_key_id == new.key_id and record.new_key_public == new.public_raw
    verify_record_signature(record, old.public_raw)
    obj = json.loads(raw)
    obj["newKeySig"] = base64.b64encode(bytes(64)).decode()
    with pytest.raises(SignatureError, match="newKeySig"):
        verify_record_signature(parse_record(canonical_bytes(obj)), old.public_raw)
    obj = json.loads(raw)
    obj["newKey"]["keyId"] = "0" * 16
    with pytest.raises(RecordFormatError, match=r"newKey\.keyId"):
        parse_record(canonical_bytes(obj))


def test_compromise_record() -> None:
    signer, victim = _signer(), _signer()
    raw = build_compromise_record(
        origin=ORIGIN, index=9, signer=signer, compromised_key_id=victim.key_id,
        compromised_from_index=3, recorded_at=T, reason="key leaked",
    )  # fmt: skip
    record = parse_record(raw)
    assert (record.action, record.subject_key_id, record.compromised_from_index) == (
        "compromise", victim.key_id, 3,
    )  # fmt: skip
    verify_record_signature(record, signer.public_raw)
    with pytest.raises(RecordFormatError, match="compromisedFromIndex"):
        build_compromise_record(
            origin=ORIGIN, index=2, signer=signer, compromised_key_id=victim.key_id,
            compromised_from_index=3, recorded_at=T, reason=None,
        )  # fmt: skip


def test_builder_refuses_invalid_records() -> None:
    with pytest.raises(RecordFormatError, match="'event'"):
        _issue(_signer(), event="deleted")
    with pytest.raises(RecordFormatError, match="'recordedAt'"):
        _issue(_signer(), recorded_at="yesterday")
    assert "_key" not in repr(_signer())


def test_a_record_the_verifier_recognises_is_not_decoded_again_others_get_the_full_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The signer's last check: a plain certificate record passes the verifier's byte recogniser
    (no decode); any other record (here an origin JCS must escape) gets the full ``check_record``."""
    from certlife.contracts import record_signing

    checked: list[dict[str, object]] = []
    real = record_signing.chk.check_record

    def counting(obj: dict[str, object]) -> None:
        checked.append(obj)
        real(obj)

    monkeypatch.setattr(record_signing.chk, "check_record", counting)
    signer = _signer()
    raw = _issue(signer)
    assert checked == []
    assert parse_record(raw).number == CERT["number"]  # the full path (a reader's) agrees
    checked.clear()
    escaped = _issue(signer, origin='certlife.example/"log"')
    assert len(checked) == 1 and checked[0]["origin"] == 'certlife.example/"log"'
    assert parse_record(escaped).origin == 'certlife.example/"log"'
