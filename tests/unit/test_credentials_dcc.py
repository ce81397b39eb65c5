"""The certificate credential: content, proof, and the checks certverify runs on it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.credentials.check import (
    check_credential_against_record,
    check_status,
    parse_credential,
)
from certlife.contracts.credentials.errors import CredentialError
from certlife.contracts.credentials.proof import sign_document, verify_document
from certlife.contracts.credentials.statuslist import parse_status_list
from certlife.contracts.records import record_hash
from tests.unit.credential_helpers import (
    CREATED,
    credential_of,
    credential_signer,
    small_log,
    status_list_of,
)

pytestmark = pytest.mark.unit


def _code(call: Any, *args: Any) -> str:
    with pytest.raises(CredentialError) as caught:
        call(*args)
    return caught.value.code


def test_the_credential_carries_the_certificate_the_record_and_the_status_entries() -> None:
    log, signer = small_log(), credential_signer()
    raw = credential_of(log, 5, signer)  # C-2's amendment, seq 2
    doc = json.loads(raw)
    assert raw == canonical_bytes(doc)
    origin = log.origin
    assert doc["id"] == f"urn:certlife:{origin}:C-2:2"
    assert doc["type"] == ["VerifiableCredential", "DigitalConformityCredential"]
    assert doc["issuer"] == f"https://{origin}/issuer"
    assert (doc["validFrom"], doc["validUntil"]) == ("2025-01-01T00:00:00Z", "2028-01-01T00:00:00Z")
    subject = doc["credentialSubject"]
    assert subject["certificateNumber"] == "C-2" and subject["status"] == "valid"
    assert subject["models"] == ["DC-60"] and subject["standards"] == ["IEC 61851-1:2017"]
    assert subject["logRecord"] == {
        "origin": origin,
        "index": 5,
        "seq": 2,
        "sha256": record_hash(log.records[5]),
    }
    assert subject["logSize"] == 6
    assert [(e["statusPurpose"], e["statusListIndex"]) for e in doc["credentialStatus"]] == [
        ("revocation", "2"),
        ("suspension", "2"),
    ]
    assert doc["credentialStatus"][0]["statusListCredential"] == f"https://{origin}/statuslists/revocation"
    assert doc["credentialStatus"][1]["id"] == f"https://{origin}/statuslists/suspension#2"
    proof = doc["proof"]
    assert proof["created"] == CREATED and proof["@context"] == doc["@context"]
    assert proof["verificationMethod"] == f"https://{origin}/issuer#{signer.key_id}"
    verify_document(doc, signer.public_raw)


def test_parse_and_check_a_good_credential() -> None:
    log, signer = small_log(), credential_signer()
    cred = parse_credential(credential_of(log, 2, signer))
    assert (cred.number, cred.record_index, cred.seq, cred.log_size, cred.list_index, cred.key_id) == (
        "C-2",
        2,
        1,
        6,
        2,
        signer.key_id,
    )
    check_credential_against_record(cred, log.records[2], list_index=2)
    for purpose in ("revocation", "suspension"):
        check_status(cred, parse_status_list(status_list_of(log, purpose, signer)))
    pretty = json.dumps(json.loads(credential_of(log, 2, signer)), indent=2).encode()
    assert parse_credential(pretty) == cred  # any JSON layout: the proof is over JCS


def test_a_tampered_credential_fails_its_signature() -> None:
    log, signer = small_log(), credential_signer()
    doc = json.loads(credential_of(log, 2, signer))
    doc["credentialSubject"]["scope"] = "everything"
    assert _code(verify_document, parse_credential(json.dumps(doc).encode()).document, signer.public_raw) == (
        "credential-signature"
    )


def test_another_key_fails_and_the_key_id_names_the_signer() -> None:
    log, signer = small_log(), credential_signer()
    cred = parse_credential(credential_of(log, 2, signer))
    assert (
        _code(verify_document, cred.document, credential_signer("other").public_raw) == "credential-signature"
    )


def test_a_credential_signed_anew_with_other_content_disagrees_with_its_record() -> None:
    log, signer = small_log(), credential_signer()
    doc = json.loads(credential_of(log, 2, signer))
    doc.pop("proof")
    doc["credentialSubject"]["holder"] = "Someone Else"
    forged = sign_document(doc, signer, f"https://{log.origin}/issuer#{signer.key_id}", CREATED)
    cred = parse_credential(canonical_bytes(forged))
    verify_document(cred.document, signer.public_raw)  # the issuer's key signed it...
    assert (
        _code(check_credential_against_record, cred, log.records[2]) == "credential-mismatch"
    )  # ...but not the log
    assert _code(check_credential_against_record, cred, log.records[1]) == "credential-mismatch"
    good = parse_credential(credential_of(log, 2, signer))
    assert _code(check_credential_against_record, good, log.records[2], 7) == "credential-mismatch"


def test_status_bits_give_revoked_and_suspended() -> None:
    log, signer = small_log(), credential_signer()
    revoked = parse_credential(credential_of(log, 0, signer, log_size=1))  # C-0 when it was valid
    suspended = parse_credential(credential_of(log, 1, signer, log_size=2))
    revocation = parse_status_list(status_list_of(log, "revocation", signer))
    suspension = parse_status_list(status_list_of(log, "suspension", signer))
    assert _code(check_status, revoked, revocation) == "status-revoked"
    check_status(revoked, suspension)
    assert _code(check_status, suspended, suspension) == "status-suspended"
    check_status(suspended, revocation)


def test_a_list_older_than_the_record_is_stale_and_a_wrong_list_is_refused() -> None:
    log, signer = small_log(), credential_signer()
    cred = parse_credential(credential_of(log, 5, signer))
    assert _code(check_status, cred, parse_status_list(status_list_of(log, "revocation", signer, 5))) == (
        "statuslist-stale"
    )
    check_status(cred, parse_status_list(status_list_of(log, "revocation", signer, 6)))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(extra=True),
        lambda d: d.update(issuer="https://elsewhere.example/issuer"),
        lambda d: d.update(id="urn:uuid:1"),
        lambda d: d["credentialStatus"].reverse(),
        lambda d: d["credentialStatus"][0].update(statusListIndex="02"),
        lambda d: d["credentialStatus"][1].update(statusListIndex="3"),
        lambda d: d["credentialSubject"].update(logSize=2),  # index 2 is not below log size 2
        lambda d: d["credentialSubject"]["logRecord"].update(sha256="ABC"),
        lambda d: d["proof"].update(verificationMethod="https://elsewhere.example/issuer#0011223344556677"),
        lambda d: d["proof"].update(cryptosuite="eddsa-rdfc-2022"),
        lambda d: d["proof"].update(proofValue="z0OIl"),
        lambda d: d.update(proof=[d["proof"]]),
    ],
)
def test_malformed_credentials_are_credential_format(mutate: Any) -> None:
    doc = json.loads(credential_of(small_log(), 2, credential_signer()))
    mutate(doc)
    assert _code(parse_credential, json.dumps(doc).encode()) == "credential-format"


@pytest.mark.parametrize("raw", [b"", b"[]", b'{"a":1,"a":2}', b'{"a":1.5}', b"\xff", b"{" * 10000])
def test_unreadable_credentials_are_credential_format(raw: bytes) -> None:
    assert _code(parse_credential, raw) == "credential-format"
