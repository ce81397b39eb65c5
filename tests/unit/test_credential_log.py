"""Credential key and status list records (LOG.md §4.3, §4.4): format, key state, commitments."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import orjson
import pytest

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.errors import RecordFormatError, TrustError
from certlife.contracts.records import RecordSigner, parse_record, signing_input
from certlife.contracts.trust import KeyRing, TrustedKey, TrustFile
from certlife.contracts.verification import LogVerifier, VerificationError, record_facts, verify_log
from certlife.contracts.verification.proof import verify_bundle
from certlife.services.partner.bundles import bundle_from_export
from tests.unit.logbuilder import LogBuilder, private_key

pytestmark = pytest.mark.unit

LIST_A = hashlib.sha256(b"list a").hexdigest()
LIST_B = hashlib.sha256(b"list b").hexdigest()


def _cred(label: str) -> RecordSigner:
    return RecordSigner(private_key(label))


def _log() -> LogBuilder:
    """Issue, announce c1, commit, rotate the record key, announce c2, revoke, commit, checkpoint."""
    b = LogBuilder()
    b.issue_many(4)  # indexes 0-7
    b.announce_credential_key("c1")  # 8: c1 from 9
    b.commit_statuslist("revocation", LIST_A)  # 9
    b.rotate("k1")  # 10
    b.announce_credential_key("c2")  # 11: c2 from 12, c1 until 12
    b.add("C-0001", "revoked", "revoked")  # 12
    b.commit_statuslist("suspension", LIST_B, log_size=12)  # 13
    b.checkpoint()
    return b


def _resign(b: LogBuilder, raw: bytes, **changes: object) -> bytes:
    """``raw`` with members changed, signed again by the record key that signed it."""
    data = orjson.loads(raw) | changes
    data.pop("sig")
    signer = b.first_signer if data["keyId"] == b.first_signer.key_id else b.signer
    data["sig"] = base64.b64encode(signer.sign(signing_input(data))).decode()
    return canonical_bytes(data)


def _failure(b: LogBuilder, trust: TrustFile | None = None) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verify_log(b.lines(), b.checkpoints, trust or b.trust())
    return caught.value


def test_the_new_records_verify_and_their_state_is_kept() -> None:
    b = _log()
    report = verify_log(b.lines(), b.checkpoints, b.trust())
    assert report.records == 14 and report.unanchored == 0
    assert report.checks["statuslist"] == 2 and report.checks["key-record"] == 3
    state = report.credentials
    assert state is not None
    c1, c2 = _cred("c1").key_id, _cred("c2").key_id
    assert state.key_for(c1, 9).key_id == c1 and state.key_for(c1, 11).key_id == c1
    assert state.key_for(c2, 12).valid_until_index is None
    for kid, index, code in [
        (c1, 8, "credential-key-out-of-range"),
        (c1, 12, "credential-key-out-of-range"),
        (c2, 11, "credential-key-out-of-range"),
        (b.signer.key_id, 12, "credential-key-unknown"),
    ]:
        with pytest.raises(TrustError) as caught:
            state.key_for(kid, index)
        assert caught.value.code == code
    assert state.key_in_force(8) is None
    assert state.key_in_force(10).key_id == c1 and state.key_in_force(100).key_id == c2
    a = state.committed(LIST_A)
    assert a is not None and (a.index, a.purpose, a.log_size) == (9, "revocation", 9)
    assert a.list_id == f"https://{b.origin}/statuslists/revocation"
    assert state.committed(hashlib.sha256(b"other").hexdigest()) is None
    assert [c.sha256 for c in state.commitments()] == [LIST_A, LIST_B]
    assert state.latest("suspension").index == 13 and state.latest("revocation").index == 9
    # the ring's credential keys are what `certctl keys trust` would write
    assert {k.key_id: (k.valid_from_index, k.valid_until_index) for k in state.credential_keys()} == {
        c1: (9, 12),
        c2: (12, None),
    }


def test_checkpoints_mode_still_checks_statuslist_signatures() -> None:
    b = _log()
    bad = bytearray(b.records[9])
    sig_at = bad.index(b'"sig":"') + 8
    bad[sig_at] = ord("B") if bad[sig_at] != ord("B") else ord("C")
    b.records[9] = bytes(bad)
    b.checkpoints = []
    with pytest.raises(VerificationError) as caught:
        verify_log(b.lines(), [], b.trust(), signatures="checkpoints")
    assert (caught.value.failure.code, caught.value.failure.index) == ("bad-signature", 9)


def test_compromise_of_a_credential_key() -> None:
    b = _log()
    b.compromise(_cred("c1"), 10)
    state = verify_log(b.lines(), [], b.trust()).credentials
    assert state is not None
    assert state.key_for(_cred("c1").key_id, 9)
    with pytest.raises(TrustError) as caught:
        state.key_for(_cred("c1").key_id, 10)
    assert caught.value.code == "credential-key-compromised"


def test_compromise_of_a_key_nobody_announced_is_a_bad_key_record() -> None:
    b = LogBuilder()
    b.issue_many(1)
    b.compromise(_cred("c9"), 0)
    assert _failure(b).failure.code == "key-record"


@pytest.mark.parametrize(
    ("case", "code"),
    [("record key announced as credential key", "key-record"), ("re-announce ended key", "key-record")],
)
def test_impossible_announcements(case: str, code: str) -> None:
    b = LogBuilder()
    b.issue_many(1)
    if case.startswith("record key"):
        b.rotate("k1")
        # announcing the old record key k0 as a credential key
        b.announce_credential_key("k0")
    else:
        b.announce_credential_key("c1")
        b.announce_credential_key("c2")
        b.announce_credential_key("c1")
    failure = _failure(b).failure
    assert failure.code == code and failure.index == len(b.records) - 1


def test_rotation_to_a_credential_key_is_a_bad_key_record() -> None:
    b = LogBuilder()
    b.issue_many(1)
    b.announce_credential_key("c1")
    b.rotate("c1")
    assert _failure(b).failure.code == "key-record"


def test_a_credential_key_never_signs_records() -> None:
    b = LogBuilder()
    b.issue_many(1)
    b.announce_credential_key("c1")
    b.signer = _cred("c1")
    b.add("C-0000", "suspended", "suspended")
    assert _failure(b).failure.code == "unknown-key"


@pytest.mark.parametrize(
    ("changes", "member"),
    [
        ({"logSize": 10}, "logSize"),
        ({"logSize": -1}, "logSize"),
        ({"purpose": "expiry"}, "purpose"),
        ({"list": "https://elsewhere.example/statuslists/revocation"}, "list"),
        ({"sha256": LIST_A.upper()}, "sha256"),
        ({"sha256": LIST_A[:62]}, "sha256"),
        ({"effectiveAt": "2025-03-01T00:00:00Z"}, "effectiveAt"),
        ({"action": "statuslist"}, "action"),
    ],
)
def test_malformed_statuslist_records_fail_record_format(changes: dict[str, object], member: str) -> None:
    b = _log()
    b.records[9] = _resign(b, b.records[9], **changes)
    failure = _failure(b).failure
    assert (failure.code, failure.position) == ("record-format", 10)
    assert member in failure.message
    with pytest.raises(RecordFormatError):
        parse_record(b.records[9])


@pytest.mark.parametrize(
    ("changes", "member"),
    [
        ({"newKeySig": "A" * 86 + "=="}, "newKeySig"),
        ({"newKey": {"keyId": "0" * 16, "publicKey": "A" * 43 + "="}}, "newKey.keyId"),
        ({"newKey": {"keyId": _cred("c1").key_id}}, "publicKey"),
        ({"subjectKeyId": "0" * 16}, "subjectKeyId"),
    ],
)
def test_malformed_credential_key_records_fail_record_format(changes: dict[str, object], member: str) -> None:
    b = _log()
    b.records[8] = _resign(b, b.records[8], **changes)
    failure = _failure(b).failure
    assert (failure.code, failure.position) == ("record-format", 9)
    assert member in failure.message


def test_announcing_the_signing_key_itself_fails_record_format() -> None:
    b = _log()
    own = {"keyId": b.first_signer.key_id, "publicKey": base64.b64encode(b.first_signer.public_raw).decode()}
    b.records[8] = _resign(b, b.records[8], newKey=own)
    assert _failure(b).failure.code == "record-format"


def test_statuslist_log_size_may_equal_the_index_but_not_exceed_it() -> None:
    b = LogBuilder()
    b.issue_many(1)
    b.commit_statuslist("revocation", LIST_A, log_size=1)
    assert verify_log(b.lines(), [], b.trust()).credentials.committed(LIST_A).log_size == 1
    with pytest.raises(RecordFormatError, match="logSize"):
        b.commit_statuslist("revocation", LIST_B, log_size=len(b.records) + 1)


def test_snapshot_and_restore_keep_the_credential_state() -> None:
    b = _log()
    first = LogVerifier(b.trust())
    for position, raw in b.lines()[:12]:
        first.feed(record_facts(position, raw, first.directory, True))
    second = LogVerifier(b.trust())
    second.restore(first.snapshot())
    for position, raw in b.lines()[12:]:
        second.feed(record_facts(position, raw, second.directory, True))
    state = second.credentials
    assert state.committed(LIST_A) is not None and state.committed(LIST_B) is not None
    assert state.key_for(_cred("c1").key_id, 11) and state.key_in_force(12).key_id == _cred("c2").key_id


def test_trust_file_credential_keys_absent_is_not_null() -> None:
    b = _log()
    trust = b.trust()
    data = trust.to_json()
    assert "credentialKeys" not in data
    assert TrustFile.from_bytes(trust.to_bytes()) == trust
    for bad in (None, [], "x", [{"keyId": "00"}]):
        with pytest.raises(TrustError) as caught:
            TrustFile.from_dict(data | {"credentialKeys": bad})
        assert caught.value.code == "malformed-trust"
    c1 = TrustedKey(_cred("c1").key_id, _cred("c1").public_raw, 9, 12, None)
    with_keys = TrustFile.from_dict(data | {"credentialKeys": [c1.to_json()]})
    assert with_keys.credential_keys == (c1,)
    assert TrustFile.from_bytes(with_keys.to_bytes()) == with_keys
    dup = data | {"credentialKeys": [c1.to_json(), c1.to_json()]}
    with pytest.raises(TrustError, match="duplicate"):
        TrustFile.from_dict(dup)
    both = data | {"credentialKeys": data["recordKeys"]}
    with pytest.raises(TrustError, match="both a record key and a credential key"):
        TrustFile.from_dict(both)


def test_a_trust_file_with_the_final_key_state_verifies_the_log_from_the_start() -> None:
    b = _log()
    end = verify_log(b.lines(), b.checkpoints, b.trust())
    assert end.credentials is not None
    ring = KeyRing(b.trust())
    for raw in b.records:
        record = parse_record(raw)
        if record.kind == "key":
            ring.apply_key_record(record)
    full = ring.trust_file()
    assert "credentialKeys" in full.to_json()
    again = verify_log(b.lines(), b.checkpoints, full).credentials
    assert again is not None
    assert sorted(again.credential_keys(), key=lambda k: k.key_id) == sorted(
        end.credentials.credential_keys(), key=lambda k: k.key_id
    )
    assert [k.to_json() for k in full.credential_keys] == [
        k.to_json() for k in end.credentials.credential_keys()
    ]


def test_proof_bundles_carry_credential_key_records_through_a_compromise(tmp_path: Path) -> None:
    """A bundle's key records may announce and compromise credential keys; they change no record key."""
    b = LogBuilder()
    b.issue_many(2)
    b.announce_credential_key("c1")
    b.compromise(_cred("c1"), len(b.records))
    b.rotate("k1")
    b.add("C-0001", "revoked", "revoked")
    b.commit_statuslist("revocation", LIST_A)
    b.checkpoint()
    export = b.write_export(tmp_path / "export")
    bundle = bundle_from_export(export, "C-0001")
    assert [parse_record(e.record).action for e in bundle.key_records] == [
        "credential-key",
        "compromise",
        "rotate",
    ]
    report = verify_bundle(bundle.to_bytes(), b.trust())
    assert report.details["certificate"] == "C-0001" and report.checks["key-record"] == 3


def test_verify_record_on_the_new_records() -> None:
    from certlife.contracts.verification import verify_record

    b = _log()
    assert verify_record(b.records[8], b.trust()).details["event"] == "credential-key"
    assert verify_record(b.records[9], b.trust()).details["event"] == "statuslist"


def test_an_old_fixtures_export_verifies_unchanged_with_an_empty_credential_state(tmp_path: Path) -> None:
    from certlife.services.demo.fixtures import generate
    from certlife.services.partner.export import read_checkpoints, read_log_lines, read_trust

    out = tmp_path / "export"
    generate(out, certificates=40, seed=5, checkpoint_every=30, workers=0)
    assert b"credentialKeys" not in (out / "trust.json").read_bytes()
    trust = read_trust(out)
    report = verify_log(read_log_lines(out), read_checkpoints(out), trust)
    assert report.ok and "statuslist" not in report.checks and report.credentials is not None
    assert report.credentials.commitments() == [] and report.credentials.credential_keys() == []
    assert report.credentials.key_in_force(report.records - 1) is None
