"""The worked example of ``contracts/CREDENTIALS.md``, regenerated and compared on every run.

``credentials_example()`` builds a 6-record log with fixed test keys (seed = SHA-256 of a
label): record 0 announces the credential key, records 1 and 2 issue two certificates,
record 3 revokes the second, records 4 and 5 commit the two status lists as of log size 4.
Every value in the document's marked blocks must equal what the code computes today.
Run ``python -m tests.unit.test_credentials_example`` to print the blocks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.credentials.bitstring import decode_list, set_indexes
from certlife.contracts.credentials.check import (
    check_credential_against_record,
    check_status,
    parse_credential,
)
from certlife.contracts.credentials.controller import controller_document
from certlife.contracts.credentials.dcc import build_credential
from certlife.contracts.credentials.errors import CredentialError
from certlife.contracts.credentials.ids import status_list_id
from certlife.contracts.credentials.listindex import StatusBits
from certlife.contracts.credentials.multikey import multikey
from certlife.contracts.credentials.proof import hash_data, verify_document
from certlife.contracts.credentials.statuslist import build_status_list, parse_status_list
from certlife.contracts.records import (
    RecordSigner,
    build_certificate_record,
    build_credential_key_record,
    build_statuslist_record,
    parse_record,
    record_hash,
)
from certlife.contracts.trust import TrustedKey

pytestmark = pytest.mark.unit

CREDENTIALS_MD = Path(__file__).resolve().parents[2] / "contracts" / "CREDENTIALS.md"
ORIGIN = "certlife.example/log"
CHECKPOINT_TIME = "2025-03-04T12:00:00Z"


def _key(label: str) -> RecordSigner:
    return RecordSigner(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest()))


RECORD_KEY = _key("certlife LOG.md example record key 1")
CREDENTIAL_KEY = _key("certlife CREDENTIALS.md example credential key 1")


def _certificate(number: str, product: str) -> dict[str, Any]:
    return {
        "number": number,
        "scheme": "CB",
        "holder": "Acme Charging GmbH",
        "manufacturer": "Acme Charging GmbH",
        "factories": ["Stuttgart"],
        "product": product,
        "models": ["DC-60"],
        "standards": ["IEC 61851-1:2017"],
        "scope": "conductive charging",
        "validFrom": "2025-01-01T00:00:00Z",
        "validUntil": "2028-01-01T00:00:00Z",
    }


def _certificate_records() -> list[bytes]:
    first = {"certificate": _certificate("CB-DE-2025-0001", "DC EV charger"), "prev": None}
    second = {"certificate": _certificate("CB-DE-2025-0002", "AC wallbox"), "prev": None}
    issued = [
        build_certificate_record(
            origin=ORIGIN,
            index=index,
            event="issued",
            status="valid",
            seq=1,
            reason=None,
            effective_at=at,
            recorded_at=at,
            signer=RECORD_KEY,
            **args,
        )
        for index, args, at in ((1, first, "2025-03-01T08:00:00Z"), (2, second, "2025-03-02T08:00:00Z"))
    ]
    revoked = build_certificate_record(
        origin=ORIGIN,
        index=3,
        certificate=second["certificate"],
        event="revoked",
        status="revoked",
        seq=2,
        prev=record_hash(issued[1]),
        reason="unsafe insulation",
        effective_at="2025-03-03T08:00:00Z",
        recorded_at="2025-03-03T08:00:00Z",
        signer=RECORD_KEY,
    )
    return [*issued, revoked]


def credentials_example() -> dict[str, str]:
    """Every value of the CREDENTIALS.md worked example, by name."""
    announce = build_credential_key_record(
        origin=ORIGIN,
        index=0,
        signer=RECORD_KEY,
        credential_public=CREDENTIAL_KEY.public_raw,
        recorded_at="2025-03-01T00:00:00Z",
        reason="first credential key",
    )
    records = [announce, *_certificate_records()]
    bits = StatusBits()
    for raw in records:
        bits.apply(parse_record(raw))
    credential = build_credential(
        parse_record(records[1]),
        records[1],
        bits.index_of("CB-DE-2025-0001") or 0,
        4,
        CHECKPOINT_TIME,
        CREDENTIAL_KEY,
    )
    doc = json.loads(credential)
    config = {k: v for k, v in doc["proof"].items() if k != "proofValue"}
    lists = {
        purpose: build_status_list(
            ORIGIN, purpose, bits.set_bits(purpose), 131072, 4, CHECKPOINT_TIME, CREDENTIAL_KEY
        )
        for purpose in ("revocation", "suspension")
    }
    for index, purpose in ((4, "revocation"), (5, "suspension")):
        records.append(
            build_statuslist_record(
                origin=ORIGIN,
                index=index,
                signer=RECORD_KEY,
                purpose=purpose,
                list_id=status_list_id(ORIGIN, purpose),
                log_size=4,
                sha256=hashlib.sha256(lists[purpose]).hexdigest(),
                recorded_at="2025-03-04T12:00:05Z",
            )
        )
    values = {
        "origin": ORIGIN,
        "record-key-id": RECORD_KEY.key_id,
        "credential-key-public": base64.b64encode(CREDENTIAL_KEY.public_raw).decode(),
        "credential-key-id": CREDENTIAL_KEY.key_id,
        "credential-key-multikey": multikey(CREDENTIAL_KEY.public_raw),
    }
    values |= {f"record-{i}": raw.decode() for i, raw in enumerate(records)}
    values |= {
        "sha256-record-1": record_hash(records[1]),
        "list-index-CB-DE-2025-0001": str(bits.index_of("CB-DE-2025-0001")),
        "list-index-CB-DE-2025-0002": str(bits.index_of("CB-DE-2025-0002")),
        "checkpoint-time": CHECKPOINT_TIME,
        "credential": credential.decode(),
        "proof-config-jcs": canonical_bytes(config).decode(),
        "proof-config-sha256": hashlib.sha256(canonical_bytes(config)).hexdigest(),
        "document-sha256": hashlib.sha256(
            canonical_bytes({k: v for k, v in doc.items() if k != "proof"})
        ).hexdigest(),
        "signing-input-hex": hash_data(doc, config).hex(),
        "proof-value": doc["proof"]["proofValue"],
    }
    for purpose, raw in lists.items():
        values[f"statuslist-{purpose}"] = raw.decode()
        values[f"statuslist-{purpose}-sha256"] = hashlib.sha256(raw).hexdigest()
        values[f"statuslist-{purpose}-first-byte"] = decode_list(
            json.loads(raw)["credentialSubject"]["encodedList"]
        )[:1].hex()
    values["controller-document"] = controller_document(
        ORIGIN, [TrustedKey(CREDENTIAL_KEY.key_id, CREDENTIAL_KEY.public_raw)]
    ).decode()
    values["credential-pretty"] = json.dumps(doc, indent=2, ensure_ascii=False)
    return values


_BLOCK = re.compile(r"<!-- certlife-credentials-example:(\S+) -->\n```[a-z]*\n(.*?)```\n", re.S)
_PRETTY = ("credential-pretty",)


def documented() -> tuple[dict[str, str], dict[str, str]]:
    """The ``values`` lines and the other marked blocks of CREDENTIALS.md."""
    blocks = dict(_BLOCK.findall(CREDENTIALS_MD.read_text(encoding="utf-8")))
    values: dict[str, str] = {}
    for line in blocks.pop("values", "").splitlines():
        name, _, value = line.partition(": ")
        values[name] = values.get(name, "") + value
    return values, blocks


def test_credentials_md_worked_example() -> None:
    expected = credentials_example()
    values, blocks = documented()
    assert values == {k: v for k, v in expected.items() if k not in _PRETTY}
    assert {name: body.rstrip("\n") for name, body in blocks.items()} == {k: expected[k] for k in _PRETTY}


def test_the_worked_example_verifies_and_says_revoked_for_the_second_certificate() -> None:
    ex = credentials_example()
    credential = parse_credential(ex["credential"].encode())
    verify_document(credential.document, CREDENTIAL_KEY.public_raw)
    check_credential_against_record(credential, ex["record-1"].encode(), 0)
    revocation = parse_status_list(ex["statuslist-revocation"].encode())
    verify_document(revocation.document, CREDENTIAL_KEY.public_raw)
    check_status(credential, revocation)
    assert set_indexes(revocation.bits) == [1] and ex["statuslist-revocation-first-byte"] == "40"
    assert json.loads(ex["record-4"])["sha256"] == ex["statuslist-revocation-sha256"]
    assert ex["signing-input-hex"] == ex["proof-config-sha256"] + ex["document-sha256"]
    second = json.loads(ex["credential"])
    second["credentialStatus"][0]["statusListIndex"] = "1"
    with pytest.raises(CredentialError):
        verify_document(second, CREDENTIAL_KEY.public_raw)


if __name__ == "__main__":
    for name, value in credentials_example().items():
        if name not in _PRETTY:
            print(f"{name}: {value}")
    print(credentials_example()["credential-pretty"])
