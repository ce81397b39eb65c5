"""The BitstringStatusListCredential: build, parse, verify, refuse."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.credentials.bitstring import bit_at, encode_list
from certlife.contracts.credentials.errors import CredentialError
from certlife.contracts.credentials.proof import sign_document, verify_document
from certlife.contracts.credentials.statuslist import parse_status_list
from tests.unit.credential_helpers import CREATED, credential_signer, small_log, status_list_of

pytestmark = pytest.mark.unit


def test_a_built_list_parses_verifies_and_holds_the_bits() -> None:
    log, signer = small_log(), credential_signer()
    raw = status_list_of(log, "revocation", signer)
    assert raw == canonical_bytes(json.loads(raw))  # published bytes are the JCS form
    parsed = parse_status_list(raw)
    assert (parsed.origin, parsed.purpose, parsed.log_size, parsed.key_id) == (
        log.origin,
        "revocation",
        6,
        signer.key_id,
    )
    assert parsed.list_id == f"https://{log.origin}/statuslists/revocation"
    assert [bit_at(parsed.bits, i) for i in range(4)] == [True, False, False, False]
    assert parsed.document["proof"]["verificationMethod"] == f"https://{log.origin}/issuer#{signer.key_id}"
    assert parsed.document["credentialSubject"]["id"] == parsed.list_id + "#list"
    verify_document(parsed.document, signer.public_raw)


def test_the_same_prefix_gives_the_same_bytes() -> None:
    log, signer = small_log(), credential_signer()
    assert status_list_of(log, "suspension", signer, 5) == status_list_of(log, "suspension", signer, 5)
    assert status_list_of(log, "suspension", signer, 4) != status_list_of(log, "suspension", signer, 5)


def test_a_flipped_bit_breaks_the_signature() -> None:
    log, signer = small_log(), credential_signer()
    doc = json.loads(status_list_of(log, "revocation", signer))
    doc["credentialSubject"]["encodedList"] = encode_list({0, 1}, 131072)
    parsed = parse_status_list(canonical_bytes(doc))
    with pytest.raises(CredentialError) as caught:
        verify_document(parsed.document, signer.public_raw)
    assert caught.value.code == "credential-signature"


def test_another_key_does_not_verify_it() -> None:
    log = small_log()
    parsed = parse_status_list(status_list_of(log, "revocation", credential_signer()))
    with pytest.raises(CredentialError) as caught:
        verify_document(parsed.document, credential_signer("another").public_raw)
    assert caught.value.code == "credential-signature"


def _mutations() -> list[tuple[str, Callable[[Any], Any]]]:
    return [
        ("not canonical", lambda raw: raw + b"\n"),
        ("unknown member", lambda d: d.update(extra=1)),
        ("purpose", lambda d: d["credentialSubject"].update(statusPurpose="expiry")),
        ("id", lambda d: d.update(id="https://elsewhere.example/lists/revocation")),
        ("subject id", lambda d: d["credentialSubject"].update(id="x")),
        ("issuer", lambda d: d.update(issuer="https://elsewhere.example/issuer")),
        ("context", lambda d: d.update({"@context": ["https://www.w3.org/ns/credentials/v2"]})),
        ("logSize", lambda d: d["credentialSubject"].update(logSize=-1)),
        ("encodedList", lambda d: d["credentialSubject"].update(encodedList="uAAAA")),
        ("method", lambda d: d["proof"].update(verificationMethod="did:key:z6Mk#z6Mk")),
        ("no proof", lambda d: d.pop("proof")),
        ("validFrom", lambda d: d.update(validFrom="2025-03-02")),
        # a timestamp is a real calendar instant (CREDENTIALS.md conventions, LOG.md §1)
        ("validFrom not a day", lambda d: d.update(validFrom="2025-02-30T12:00:00Z")),
        ("validFrom hour 24", lambda d: d.update(validFrom="2025-03-02T24:00:00Z")),
        ("created not a day", lambda d: d["proof"].update(created="2025-02-29T12:00:00Z")),
        ("created leap second", lambda d: d["proof"].update(created="2025-03-02T23:59:60Z")),
    ]


@pytest.mark.parametrize(("name", "mutate"), _mutations())
def test_malformed_lists_are_statuslist_format(name: str, mutate: Callable[[Any], Any]) -> None:
    raw = status_list_of(small_log(), "revocation", credential_signer())
    if name == "not canonical":
        bad = mutate(raw)
    else:
        doc = json.loads(raw)
        mutate(doc)
        bad = canonical_bytes(doc)
    with pytest.raises(CredentialError) as caught:
        parse_status_list(bad)
    assert caught.value.code == "statuslist-format", name


def test_a_re_signed_foreign_list_still_names_its_origin() -> None:
    """A list signed for another origin parses, but its origin says so (the verifier compares)."""
    signer = credential_signer()
    doc = json.loads(status_list_of(small_log(), "revocation", signer))
    doc = {k: v for k, v in doc.items() if k != "proof"}
    doc["id"] = "https://other.example/log/statuslists/revocation"
    doc["issuer"] = "https://other.example/log/issuer"
    doc["credentialSubject"]["id"] = doc["id"] + "#list"
    signed = sign_document(doc, signer, f"https://other.example/log/issuer#{signer.key_id}", CREATED)
    assert parse_status_list(canonical_bytes(signed)).origin == "other.example/log"
