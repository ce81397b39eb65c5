"""Member-by-member structure checks of v1 records (used by ``certlife.contracts.records``).

Each failure raises ``RecordFormatError`` naming the member and the rule.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from certlife.contracts.errors import RecordFormatError
from certlife.contracts.keys import b64decode_strict, key_id
from certlife.domain.lifecycle import LifecycleEvent, Status

#: What a record's signing input starts with (contracts/LOG.md §5): the prefix, then the JCS
#: encoding of the record without ``sig`` and ``newKeySig``.
SIGNING_PREFIX = b"certlife-record-v1\n"

CERTIFICATE_FIELDS = (
    "number", "scheme", "holder", "manufacturer", "factories", "product",
    "models", "standards", "scope", "validFrom", "validUntil",
)  # fmt: skip
EVENTS = frozenset(e.value for e in LifecycleEvent)
STATUSES = frozenset(s.value for s in Status)

_COMMON = {"v", "origin", "index", "kind", "keyId", "sig"}
_CERT = _COMMON | {"certificate", "event", "status", "seq", "prev", "reason"} | {
    "effectiveAt", "recordedAt",
}  # fmt: skip
_KEY = _COMMON | {"action", "reason", "recordedAt"}
_ROTATE = _KEY | {"newKey", "newKeySig"}
_COMPROMISE = _KEY | {"subjectKeyId", "compromisedFromIndex"}
_ACTIONS = {"rotate": _ROTATE, "compromise": _COMPROMISE, "credential-key": _KEY | {"newKey"}}
_STATUSLIST = _COMMON | {"purpose", "list", "logSize", "sha256", "reason", "recordedAt"}
#: The purposes of a ``statuslist`` record (LOG.md §4a).
LIST_PURPOSES = ("revocation", "suspension")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?Z")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# Calendar dates valid in every year (year >= 1000, no 29 February): one match
# instead of building a datetime; anything else takes the full check.
_SAFE_DAY = (
    r"[1-9][0-9]{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_SAFE_TIME = re.compile(_SAFE_DAY + r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?Z")
_SAFE_DATE_OR_TIME = re.compile(
    _SAFE_DAY + r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?Z)?"
)
# Padded base64 of exactly 64 bytes in its one canonical form (zero padding bits).
_B64_SIG = re.compile(r"[A-Za-z0-9+/]{85}[AQgw]==")
_CERT_FIELD_SET = frozenset(CERTIFICATE_FIELDS)
_FREE_TEXT = ("scheme", "holder", "manufacturer", "product", "scope")
_LISTS = ("factories", "models", "standards")
_TIMESTAMPS = ("effectiveAt", "recordedAt")
_IS_STR = str.__instancecheck__
#: validFrom, validUntil, effectiveAt, recordedAt, keyId, sig, origin: one per line.
_PLAIN_LINES = "\n".join(
    (_SAFE_DATE_OR_TIME.pattern, _SAFE_DATE_OR_TIME.pattern, _SAFE_TIME.pattern, _SAFE_TIME.pattern,
     _HEX16.pattern, _B64_SIG.pattern, "[^\n]+")
)  # fmt: skip
#: ``_PLAIN_LINES`` for a first record (``prev`` null), and with ``prev`` on a last line.
_PLAIN_FIRST = re.compile(_PLAIN_LINES)
_PLAIN_NEXT = re.compile(_PLAIN_LINES + "\n" + _HEX64.pattern)


def _fail(member: str, why: str) -> RecordFormatError:
    return RecordFormatError(f"member {member!r}: {why}")


def _members(obj: dict[str, Any], expected: set[str], where: str) -> None:
    missing, extra = expected - obj.keys(), obj.keys() - expected
    if missing:
        raise _fail(sorted(missing)[0], f"missing in {where}")
    if extra:
        raise _fail(sorted(extra)[0], f"not allowed in {where}")


def _int(obj: dict[str, Any], name: str, minimum: int) -> int:
    value = obj[name]
    if type(value) is not int or value < minimum:
        raise _fail(name, f"must be an integer >= {minimum}")
    return value


def _str(obj: dict[str, Any], name: str, *, nullable: bool = False) -> None:
    value = obj[name]
    if nullable and value is None:
        return
    if type(value) is not str or not value:
        raise _fail(name, "must be a non-empty string" + (" or null" if nullable else ""))


def _pattern(obj: dict[str, Any], name: str, pattern: re.Pattern[str], what: str) -> None:
    value = obj[name]
    if type(value) is not str or not pattern.fullmatch(value):
        raise _fail(name, f"must be {what}")


def _b64(obj: dict[str, Any], name: str, size: int) -> None:
    value = obj[name]
    try:
        ok = type(value) is str and len(b64decode_strict(value)) == size
    except ValueError:
        ok = False
    if not ok:
        raise _fail(name, f"must be padded standard base64 of {size} bytes")


def check_timestamp(obj: dict[str, Any], name: str) -> None:
    """Require an RFC 3339 UTC timestamp with ``Z`` (e.g. 2025-01-31T12:00:00Z)."""
    value = obj[name]
    if type(value) is str and _SAFE_TIME.fullmatch(value):
        return
    match = _TIME.fullmatch(value) if type(value) is str else None
    try:
        if match is None:
            raise ValueError
        year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise _fail(name, "must be an RFC 3339 UTC timestamp ending in Z") from None


def _check_date_or_time(obj: dict[str, Any], name: str) -> None:
    value = obj[name]
    if type(value) is str and _SAFE_DATE_OR_TIME.fullmatch(value):
        return
    match = _DATE.fullmatch(value) if type(value) is str else None
    if match is None:
        check_timestamp(obj, name)
        return
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise _fail(name, "is not a calendar date") from None


def _check_certificate(cert: Any) -> None:
    if type(cert) is not dict:
        raise _fail("certificate", "must be an object")
    _members(cert, set(CERTIFICATE_FIELDS), "certificate")
    _str(cert, "number")
    for name in ("factories", "models", "standards"):
        if type(cert[name]) is not list:
            raise _fail(f"certificate.{name}", "must be an array")
    for name in ("validFrom", "validUntil"):
        _check_date_or_time(cert, name)


def check_record(obj: dict[str, Any]) -> None:
    """Check a parsed record's members, types and values; raise RecordFormatError."""
    for name in ("v", "kind"):
        if name not in obj:
            raise _fail(name, "missing")
    if type(obj["v"]) is not int or obj["v"] != 1:
        raise _fail("v", "must be 1")
    kind = obj["kind"]
    if kind == "certificate":
        _members(obj, _CERT, "a certificate record")
        _check_certificate_record(obj)
    elif kind == "key":
        action = obj.get("action")
        if type(action) is not str or action not in _ACTIONS:
            raise _fail("action", "must be 'rotate', 'compromise' or 'credential-key'")
        _members(obj, _ACTIONS[action], f"a {action} record")
        _check_key_record(obj, action)
    elif kind == "statuslist":
        _members(obj, _STATUSLIST, "a statuslist record")
        _check_statuslist_record(obj)
    else:
        raise _fail("kind", "must be 'certificate', 'key' or 'statuslist'")
    _str(obj, "origin")
    _int(obj, "index", 0)
    _pattern(obj, "keyId", _HEX16, "16 lowercase hex digits")
    _b64(obj, "sig", 64)
    _str(obj, "reason", nullable=True)
    check_timestamp(obj, "recordedAt")


def _check_certificate_record(obj: dict[str, Any]) -> None:
    _check_certificate(obj["certificate"])
    for name, allowed in (("event", EVENTS), ("status", STATUSES)):
        if type(obj[name]) is not str or obj[name] not in allowed:
            raise _fail(name, f"must be one of {sorted(allowed)}")
    seq = _int(obj, "seq", 1)
    if obj["prev"] is not None:
        _pattern(obj, "prev", _HEX64, "64 lowercase hex digits or null")
    if (seq == 1) != (obj["prev"] is None):
        raise _fail("prev", "must be null exactly when seq is 1")
    if (seq == 1) != (obj["event"] == LifecycleEvent.ISSUED):
        raise _fail("seq", "must be 1 exactly for the 'issued' event")
    check_timestamp(obj, "effectiveAt")


def _check_key_record(obj: dict[str, Any], action: str) -> None:
    if action == "compromise":
        _pattern(obj, "subjectKeyId", _HEX16, "16 lowercase hex digits")
        if _int(obj, "compromisedFromIndex", 0) > _int(obj, "index", 0):
            raise _fail("compromisedFromIndex", "must not exceed the record's index")
        return
    new = obj["newKey"]
    if type(new) is not dict:
        raise _fail("newKey", "must be an object")
    _members(new, {"keyId", "publicKey"}, "newKey")
    _b64(new, "publicKey", 32)
    if new["keyId"] != key_id(b64decode_strict(new["publicKey"])):
        raise _fail("newKey.keyId", "does not match newKey.publicKey")
    if new["keyId"] == obj["keyId"]:
        raise _fail("newKey.keyId", "must differ from the signing keyId")
    if action == "rotate":
        _b64(obj, "newKeySig", 64)


def _check_statuslist_record(obj: dict[str, Any]) -> None:
    purpose = obj["purpose"]
    if type(purpose) is not str or purpose not in LIST_PURPOSES:
        raise _fail("purpose", f"must be one of {list(LIST_PURPOSES)}")
    _str(obj, "origin")
    if obj["list"] != f"https://{obj['origin']}/statuslists/{purpose}":
        raise _fail("list", "must be https://{origin}/statuslists/{purpose}")
    if _int(obj, "logSize", 0) > _int(obj, "index", 0):
        raise _fail("logSize", "must not exceed the record's index")
    _pattern(obj, "sha256", _HEX64, "64 lowercase hex digits")


def plain_certificate_record(obj: dict[str, Any]) -> bool:
    """True if ``obj`` is a certificate record :func:`check_record` accepts and every value is plain.

    Plain: every value is a string, a safe-range-checked integer, null or an
    array of strings — no float or nested structure anywhere, so ``orjson``
    output of it is its JCS encoding when it holds no supplementary character.
    False means "not sure": run :func:`check_record` (it names the problem, or
    accepts a record this conservative check does not cover).
    """
    if obj.keys() != _CERT or obj["v"] != 1 or type(obj["v"]) is not int or obj["kind"] != "certificate":
        return False
    cert = obj["certificate"]
    if type(cert) is not dict or cert.keys() != _CERT_FIELD_SET:
        return False
    number = cert["number"]
    if type(number) is not str or not number:
        return False
    text = [cert[name] for name in _FREE_TEXT]
    for name in _LISTS:
        items = cert[name]
        if type(items) is not list:
            return False
        text += items
    seq, prev, event, reason, origin, index = (
        obj["seq"], obj["prev"], obj["event"], obj["reason"], obj["origin"], obj["index"],
    )  # fmt: skip
    if type(seq) is not int or seq < 1 or type(index) is not int or index < 0:
        return False
    status = obj["status"]
    if type(event) is not str or event not in EVENTS or type(status) is not str or status not in STATUSES:
        return False
    if (prev is None) != (seq == 1) or (seq == 1) != (event == "issued"):
        return False
    if not origin or (reason is not None and (type(reason) is not str or not reason)):
        return False
    # The formatted values, one per line, matched at once (none of the patterns
    # matches a newline, so a value holding one cannot shift the others).
    formatted = [
        cert["validFrom"], cert["validUntil"], obj["effectiveAt"], obj["recordedAt"],
        obj["keyId"], obj["sig"], origin,
    ]  # fmt: skip
    pattern = _PLAIN_FIRST
    if prev is not None:
        formatted.append(prev)
        pattern = _PLAIN_NEXT
    if not all(map(_IS_STR, formatted)) or not all(map(_IS_STR, text)):
        return False
    return pattern.fullmatch("\n".join(formatted)) is not None
