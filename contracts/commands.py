"""Wire format of lifecycle commands and their outcomes (v1).

A command is one JSON object discriminated by ``type`` (``issue``, ``suspend``,
``reinstate``, ``renew``, ``amend``, ``revoke``, ``withdraw``, ``expire-due``)
with camelCase members; every command has a ``commandId`` that makes it
idempotent. Times are RFC 3339 with an offset (``Z`` recommended); the domain
keeps them at second precision. The JSON Schemas in ``contracts/schemas`` are
generated from these models by ``services/commands/gen_schemas.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from certlife.contracts.admission import MAX_NAME, AdmissionError, admit_command_object, command_id_of
from certlife.contracts.errors import ContractError

#: Largest accepted command, in bytes.
MAX_COMMAND_BYTES = 64 * 1024
#: Up to this size an oversized command is still parsed to find its commandId.
_MAX_PEEK_BYTES = 16 * MAX_COMMAND_BYTES

Text = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
TextList = Annotated[list[Text], Field(min_length=1, max_length=1000)]


class CommandError(ContractError):
    """A command that cannot be parsed; ``command_id`` is set when it was readable."""

    code = "command-invalid"

    def __init__(self, message: str, *, code: str, command_id: str | None = None) -> None:
        super().__init__(message, code=code)
        self.command_id = command_id


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class TestReport(_Wire):
    """A test report reference (laboratory and report number), internal."""

    __test__ = False  # not a pytest test class despite the name

    lab: Text
    report_number: Name


class _Command(_Wire):
    command_id: Name


class _CertificateCommand(_Command):
    """A command about one certificate (``issuer`` and ``number``)."""

    issuer: Name
    number: Name
    effective_at: AwareDatetime | None = None


class IssueCertificate(_CertificateCommand):
    """Issue a new certificate."""

    type: Literal["issue"] = "issue"
    scheme: Name
    holder: Text
    manufacturer: Text
    factories: TextList
    product: Text
    models: TextList
    standards: TextList
    scope: Text
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    test_reports: Annotated[list[TestReport], Field(max_length=1000)] = []


class SuspendCertificate(_CertificateCommand):
    """Suspend a valid certificate."""

    type: Literal["suspend"] = "suspend"
    reason: Text
    review_date: date | None = None


class ReinstateCertificate(_CertificateCommand):
    """Lift a suspension."""

    type: Literal["reinstate"] = "reinstate"
    reason: Text | None = None


class RenewCertificate(_CertificateCommand):
    """Give a certificate a new validity period."""

    type: Literal["renew"] = "renew"
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    reason: Text | None = None


class AmendCertificate(_CertificateCommand):
    """Change scope, models, factories, standards and/or test reports."""

    type: Literal["amend"] = "amend"
    scope: Text | None = None
    models: TextList | None = None
    factories: TextList | None = None
    standards: TextList | None = None
    test_reports: Annotated[list[TestReport], Field(max_length=1000)] | None = None
    reason: Text | None = None


class RevokeCertificate(_CertificateCommand):
    """Revoke a certificate (final)."""

    type: Literal["revoke"] = "revoke"
    reason: Text


class WithdrawCertificate(_CertificateCommand):
    """Withdraw a certificate (final)."""

    type: Literal["withdraw"] = "withdraw"
    reason: Text | None = None


class ExpireDue(_Command):
    """Expire up to ``limit`` certificates whose validity has ended."""

    type: Literal["expire-due"] = "expire-due"
    limit: Annotated[int, Field(ge=1, le=10_000)] = 500


#: The base of every command about one certificate (all but ``expire-due``).
CertificateCommand = _CertificateCommand

Command = Annotated[
    IssueCertificate
    | SuspendCertificate
    | ReinstateCertificate
    | RenewCertificate
    | AmendCertificate
    | RevokeCertificate
    | WithdrawCertificate
    | ExpireDue,
    Field(discriminator="type"),
]

#: Wire ``type`` values.
COMMAND_TYPES = (
    "issue",
    "suspend",
    "reinstate",
    "renew",
    "amend",
    "revoke",
    "withdraw",
    "expire-due",
)


class Accepted(_Wire):
    """The command was applied; ``event`` names the resulting lifecycle event.

    For ``expire-due``: ``certificateId``/``number``/``version`` are null and
    ``expired`` lists the numbers of the certificates expired.
    """

    v: Literal[1] = 1
    command_id: Name
    status: Literal["accepted"] = "accepted"
    certificate_id: str | None
    number: str | None
    version: int | None
    event: str
    expired: list[str] | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON object (``expired`` only for ``expire-due``)."""
        data = self.model_dump(mode="json", by_alias=True)
        if data["expired"] is None:
            del data["expired"]
        return data


class Rejected(_Wire):
    """The command was refused; ``code`` is a stable error code."""

    v: Literal[1] = 1
    command_id: Name
    status: Literal["rejected"] = "rejected"
    code: str
    message: str

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON object."""
        return self.model_dump(mode="json", by_alias=True)


Outcome = Annotated[Accepted | Rejected, Field(discriminator="status")]

COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)
OUTCOME_ADAPTER: TypeAdapter[Accepted | Rejected] = TypeAdapter(Outcome)


def outcome_from_wire(data: dict[str, Any]) -> Accepted | Rejected:
    """Parse an outcome object (e.g. one stored in a receipt)."""
    return OUTCOME_ADAPTER.validate_python(data)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate member name")
    return dict(pairs)


#: One decoder for every command (``json.loads`` with a hook builds a new one per call).
_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates)

#: What makes :func:`_decode_command`'s orjson path give the message to the strict decoder.
_ORJSON_REFUSED = (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError)


def _decode_command(raw: bytes) -> Any:
    """``_DECODER.decode(raw.decode("utf-8"))``: the same object, through orjson when it can be.

    orjson keeps the last of duplicate members where the strict decoder refuses
    the message. When orjson's compact encoding of what it read is exactly
    ``raw``, every member of every object was read once (a dropped duplicate
    would be missing from it), so the object is the strict decoder's. Any other
    message (whitespace, other escapes, duplicates, numbers written another way,
    deep nesting, invalid UTF-8) takes the strict decoder, which returns or
    raises exactly what it always did.
    """
    try:
        obj = orjson.loads(raw)
        if orjson.dumps(obj) == raw:
            return obj
    except _ORJSON_REFUSED:
        pass
    return _DECODER.decode(raw.decode("utf-8"))


def _lenient_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key == "commandId" and key in out and out[key] != value:
            out[key] = None  # two different commandIds: neither can be trusted
        elif key not in out or key != "commandId":
            out[key] = value
    return out


#: Reads the commandId out of a message the strict decoder refused (invalid UTF-8
#: elsewhere, raw control characters, duplicate members).
_LENIENT = json.JSONDecoder(object_pairs_hook=_lenient_pairs, strict=False)


def _lenient_command_id(raw: bytes) -> str | None:
    try:
        obj = _LENIENT.decode(raw.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        return None
    return command_id_of(obj)


def command_digest(command: Command) -> str:
    """SHA-256 (hex) of a command's content: equal for identical re-sends, whatever their
    member order or spelled-out defaults; different when any value differs."""
    return hashlib.sha256(_digest_body(command.model_dump(mode="json", by_alias=True))).hexdigest()


def _digest_body(content: dict[str, Any]) -> bytes:
    """``json.dumps(content, sort_keys=True, separators=(",", ":"))`` as UTF-8: the digest's input.

    orjson gives the same bytes whenever its output is printable ASCII (commands
    hold no floats) and is several times faster; json escapes every non-ASCII
    character and DEL, which orjson writes raw, so such output is escaped the
    same way (:func:`_ascii_escaped`). What orjson refuses (lone surrogates,
    integers beyond 64 bits, non-string keys) takes the json path.
    """
    try:
        fast = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        fast = None
    if fast is None:
        body = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return body.encode("utf-8", "surrogatepass")
    if fast.isascii() and b"\x7f" not in fast:
        return fast
    return _ascii_escaped(fast)


#: An escape sequence of ``backslashreplace`` output: ``\xhh`` and ``\Uhhhhhhhh`` (the forms json
#: does not write) captured, any other escape matched whole so that scanning stays on escape boundaries.
_ESCAPE = re.compile(rb"\\(?:x([0-9a-f]{2})|U([0-9a-f]{8})|.)", re.DOTALL)


def _json_escape(match: re.Match[bytes]) -> bytes:
    narrow, wide = match.group(1), match.group(2)
    if narrow is not None:
        return b"\\u00" + narrow
    if wide is not None:
        code = int(wide, 16) - 0x10000
        return b"\\u%04x\\u%04x" % (0xD800 | code >> 10, 0xDC00 | code & 0x3FF)
    return match.group(0)


def _ascii_escaped(fast: bytes) -> bytes:
    """orjson's UTF-8 output in json's ``ensure_ascii`` form: ``\\uXXXX`` (lowercase hex, a surrogate
    pair beyond U+FFFF) for every character past ``~``.

    Such characters occur only inside strings, and every backslash of orjson's output starts an
    escape, so ``backslashreplace``'s sequences are found by scanning escape by escape.
    """
    out = fast.decode("utf-8").encode("ascii", "backslashreplace").replace(b"\x7f", b"\\u007f")
    if b"\\x" in out or b"\\U" in out:
        out = _ESCAPE.sub(_json_escape, out)
    return out


def parse_command(raw: bytes) -> Command:
    """Parse and validate one command, or raise ``CommandError``.

    Codes: ``oversized`` (more than 64 KiB), ``malformed-json`` (not UTF-8 JSON,
    nested too deeply, or a duplicate member), ``unknown-type``,
    ``schema-invalid``, and the admission codes of ``certlife.contracts.admission``
    (``inadmissible-text``, ``text-blank``, ``number-invalid``). Every string is
    admitted (and normalised to NFC) before the schema is checked. The error's
    ``command_id`` is set whenever an admissible commandId could be read, even
    from a message that is not valid JSON.
    """
    if len(raw) > _MAX_PEEK_BYTES:
        raise CommandError(f"command is {len(raw)} bytes (max {MAX_COMMAND_BYTES})", code="oversized")
    try:
        obj = _decode_command(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        command_id = _lenient_command_id(raw)
        if len(raw) > MAX_COMMAND_BYTES:
            raise CommandError(
                f"command is {len(raw)} bytes (max {MAX_COMMAND_BYTES})",
                code="oversized",
                command_id=command_id,
            ) from None
        raise CommandError(f"malformed JSON: {e}", code="malformed-json", command_id=command_id) from None
    command_id = command_id_of(obj)
    if len(raw) > MAX_COMMAND_BYTES:
        raise CommandError(
            f"command is {len(raw)} bytes (max {MAX_COMMAND_BYTES})",
            code="oversized",
            command_id=command_id,
        )
    if not isinstance(obj, dict):
        raise CommandError("a command must be a JSON object", code="schema-invalid")
    try:
        obj = admit_command_object(obj)
    except AdmissionError as e:
        raise CommandError(f"inadmissible command: {e}", code=e.code, command_id=command_id) from None
    except RecursionError:  # nested deeper than the walk allows (json itself stops at ~1000 levels)
        raise CommandError(
            "malformed JSON: nested too deeply", code="malformed-json", command_id=command_id
        ) from None
    if obj.get("type") not in COMMAND_TYPES:
        raise CommandError(
            f"unknown command type {obj.get('type')!r}", code="unknown-type", command_id=command_id
        )
    try:
        return COMMAND_ADAPTER.validate_python(obj, by_alias=True, by_name=False)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or '(root)'}: {err['msg']}" for err in e.errors()[:10]
        )
        raise CommandError(
            f"invalid {obj['type']} command: {problems}", code="schema-invalid", command_id=command_id
        ) from None
