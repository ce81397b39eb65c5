"""``verify_record``: one record on its own — canonical form, origin, key in force, signature."""

from __future__ import annotations

from typing import Any

from certlife.contracts.errors import ContractError
from certlife.contracts.records import Record, parse_record, verify_record_signature
from certlife.contracts.trust import KeyRing, TrustFile
from certlife.contracts.verification.failures import Check, Where, fail
from certlife.contracts.verification.report import StepReport, reporting

_PARSE_CODES = frozenset({"not-json", "not-canonical"})
_TRUST_CODES = frozenset({"unknown-key", "key-out-of-range", "key-compromised"})


def record_summary(record: Record) -> dict[str, Any]:
    """The fields of a record a report shows: index, kind, certificate, event (a key record's action,
    ``statuslist`` for a status list commitment), status, key."""
    return {
        "index": record.index,
        "recordKind": record.kind,
        "certificate": record.number,
        "event": {"certificate": record.event, "key": record.action}.get(record.kind, record.kind),
        "status": record.status,
        "seq": record.seq,
        "recordedAt": record.recorded_at,
        "keyId": record.key_id,
    }


def verify_record(raw: bytes, trust: TrustFile) -> StepReport:
    """Verify one record against the trust file alone (no log: key records are not followed).

    Steps: 1 canonical, 2 origin, 3 key in force at the record's index,
    4 signature (and a rotation's ``newKeySig``). Raises VerificationError.
    """
    report = StepReport("record")
    with reporting(report):
        # Step 1: canonical bytes, well-formed record.
        try:
            record = parse_record(raw)
        except ContractError as exc:
            code = exc.code if exc.code in _PARSE_CODES else "record-format"
            raise fail(code, str(exc)) from None
        report.checks[Check.CANONICAL] += 1
        report.details = record_summary(record)
        where: Where = {"index": record.index, "certificate": record.number}
        # Step 2: a record of the trusted log.
        if record.origin != trust.origin:
            raise fail("wrong-origin", f"origin {record.origin!r} is not {trust.origin!r}", **where)
        report.checks[Check.ORIGIN] += 1
        # Step 3: its key is trusted at its index.
        try:
            key = KeyRing(trust).key_for(record.key_id, record.index)
        except ContractError as exc:
            code = exc.code if exc.code in _TRUST_CODES else "unknown-key"
            raise fail(code, str(exc), **where) from None
        report.checks[Check.KEY] += 1
        # Step 4: the signature.
        try:
            verify_record_signature(record, key.public_raw)
        except ContractError as exc:
            raise fail("bad-signature", str(exc), **where) from None
        report.checks[Check.SIGNATURE] += 1
    return report
