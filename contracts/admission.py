"""The admission rule: what text may reach a signed record, a read model or a mirror.

One rule, applied before anything is stored and shared by every reader:

* the command service admits a command only if every string it carries passes
  (:func:`admit_command_object`; strings are normalised to Unicode NFC first);
* the relay refuses to sign a record whose content does not pass
  (:func:`record_content_problem`), instead of publishing something its own
  consumers cannot read;
* the projections and the partner mirror check every record with the same
  function and park (keep, report, skip) a record that does not pass;
* the CLIs refuse lookup arguments that hold a forbidden character.

``certverify``'s integrity checks do not include this rule (contracts/LOG.md §3.2).

Text (every string member): valid Unicode (no lone surrogates), in NFC, no
C0 or C1 control character (U+0000–U+001F, U+007F–U+009F), no Unicode
noncharacter (U+FDD0–U+FDEF, U+xxFFFE, U+xxFFFF), no bidirectional formatting
character (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), not blank,
at most ``MAX_TEXT`` characters (names and identifiers ``MAX_NAME``).

Certificate numbers: the ASCII profile ``NUMBER_PATTERN``: letters, digits and
`` -./_*:+#``, 1 to ``MAX_NAME`` characters, starting and ending with a letter
or digit, no two spaces in a row. Numbers are compared exactly (case
sensitive), so two numbers that look alike in different scripts or Unicode
forms cannot both exist: only one of them is admissible.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from certlife.contracts.errors import ContractError

#: Longest free text (holder, scope, reasons, ...), in characters.
MAX_TEXT = 1024
#: Longest name or identifier (number, scheme, commandId, issuer, ...), in characters.
MAX_NAME = 128
#: The ASCII profile of certificate numbers.
NUMBER_PATTERN = r"[A-Za-z0-9](?:(?! {2})[A-Za-z0-9 ./_*:+#-]){0,126}[A-Za-z0-9]|[A-Za-z0-9]"
_NUMBER = re.compile(NUMBER_PATTERN)
# Everything a string must not contain, as one character class.
_FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    "\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff\U0004fffe\U0004ffff"
    "\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff"
    "\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff\U000cfffe\U000cffff"
    "\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe\U000fffff\U0010fffe\U0010ffff"
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
#: Members of a command that hold a certificate number.
_NUMBER_MEMBERS = frozenset({"number"})


class AdmissionError(ContractError):
    """Content that the admission rule refuses; ``member`` names where it was found."""

    code = "inadmissible-text"

    def __init__(self, message: str, *, code: str | None = None, member: str = "") -> None:
        super().__init__(message, code=code)
        self.member = member


def ascii_shown(text: str, limit: int | None = None) -> str:
    """``text`` (cut to ``limit`` characters) with every non-ASCII character escaped, for one-line messages."""
    return text[:limit].encode("ascii", "backslashreplace").decode("ascii")


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def check_text(member: str, value: str, *, max_length: int = MAX_TEXT, normalised: bool = True) -> None:
    """Raise ``AdmissionError`` unless ``value`` is admissible text.

    With ``normalised`` (records), the text must already be NFC; commands are
    normalised by :func:`admit_text` before this check.
    """
    # Printable text cannot hold a forbidden character (each is in Unicode category Cc, Cf, Cs or Cn,
    # which str.isprintable refuses; tests/unit/test_admission.py checks every code point): skip the scan.
    bad = None if value.isprintable() else _FORBIDDEN.search(value)
    if bad is not None:
        raise AdmissionError(
            f"{member}: character {_describe(bad.group())} at position {bad.start()} is not allowed",
            member=member,
        )
    if not value.strip():
        raise AdmissionError(f"{member}: must not be empty or blank", code="text-blank", member=member)
    if len(value) > max_length:
        raise AdmissionError(
            f"{member}: {len(value)} characters (at most {max_length})", code="text-too-long", member=member
        )
    if normalised and not value.isascii() and not unicodedata.is_normalized("NFC", value):
        raise AdmissionError(f"{member}: text is not in Unicode NFC", code="text-not-nfc", member=member)


def check_number(value: str, member: str = "number") -> None:
    """Raise ``AdmissionError`` unless ``value`` is a certificate number of the ASCII profile."""
    if _NUMBER.fullmatch(value) is None:
        shown = ascii_shown(value, 40)
        raise AdmissionError(
            f"{member}: {shown!r} is not a certificate number (1-{MAX_NAME} ASCII letters, digits "
            "and ' -./_*:+#', starting and ending with a letter or digit, no double space)",
            code="number-invalid",
            member=member,
        )


def admit_text(member: str, value: str, *, max_length: int = MAX_TEXT) -> str:
    """Return ``value`` in NFC if it is admissible text, else raise ``AdmissionError``."""
    if not value.isascii():
        bad = _FORBIDDEN.search(value)  # before normalising: NFC would fail on a lone surrogate
        if bad is None:
            value = unicodedata.normalize("NFC", value)
    check_text(member, value, max_length=max_length, normalised=False)
    return value


def admit_command_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a decoded command with every string admitted (NFC), or raise.

    Member names must be admissible too; a member called ``number`` must hold a
    certificate number. Only the character rules and the number profile are
    checked here; types and lengths of known members are the schema's job.
    """
    return _admit(obj, "")


#: Longest string value (values have no character limit of their own: the schema bounds them).
_UNBOUNDED = 1 << 30


def _admit(value: Any, path: str) -> Any:
    """``value`` (found at ``path``) with every string admitted.

    A string member or item that is printable ASCII (already NFC) and not a number
    is taken on sight, without building its path: paths are only for messages.
    """
    if isinstance(value, str):
        leaf = path.rsplit(".", 1)[-1]
        # printable ASCII is already NFC: admitted as it is, like admit_text would
        text = (
            value
            if _plainly_admissible(value, _UNBOUNDED)
            else admit_text(path or "(root)", value, max_length=_UNBOUNDED)
        )
        if leaf in _NUMBER_MEMBERS:
            check_number(text, path)
        return text
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = (
                key
                if _plainly_admissible(key, MAX_NAME)
                else admit_text(f"{path or '(root)'} member name", key, max_length=MAX_NAME)
            )
            # The leaf of the item's path is the name's last dotted part (``_admit``'s ``leaf``).
            if isinstance(item, str) and _plainly_admissible(item, _UNBOUNDED) and not _is_number(name):
                out[name] = item
            else:
                out[name] = _admit(item, f"{path}.{name}" if path else name)
        return out
    if isinstance(value, list):
        # An item's leaf ends in ``[i]``: never a number member.
        return [
            item
            if isinstance(item, str) and _plainly_admissible(item, _UNBOUNDED)
            else _admit(item, f"{path}[{i}]")
            for i, item in enumerate(value)
        ]
    return value


def _is_number(name: str) -> bool:
    """True when a string under member ``name`` is a certificate number (see ``_NUMBER_MEMBERS``)."""
    return name.rpartition(".")[2] in _NUMBER_MEMBERS


def command_id_of(obj: Any) -> str | None:
    """The admissible ``commandId`` of a decoded command, or None when there is none."""
    if isinstance(obj, dict):
        cid = obj.get("commandId")
        if isinstance(cid, str):
            try:
                check_text("commandId", cid, max_length=MAX_NAME)
            except AdmissionError:
                return None
            return cid
    return None


_CERT_TEXT = ("scheme", "holder", "manufacturer", "product", "scope")
_CERT_LISTS = ("factories", "models", "standards")


def check_certificate(cert: Mapping[str, Any]) -> None:
    """Raise ``AdmissionError`` unless a record's certificate object is admissible."""
    number = cert.get("number")
    if not isinstance(number, str):
        raise AdmissionError("certificate.number: must be a string", member="certificate.number")
    check_number(number, "certificate.number")
    for name in _CERT_TEXT:
        value = cert.get(name)
        if isinstance(value, str):
            limit = MAX_NAME if name == "scheme" else MAX_TEXT
            if not _plainly_admissible(value, limit):
                check_text(f"certificate.{name}", value, max_length=limit)
    for name in _CERT_LISTS:
        for i, item in enumerate(cert.get(name) or ()):
            if isinstance(item, str) and not _plainly_admissible(item, MAX_TEXT):
                check_text(f"certificate.{name}[{i}]", item)


def _plainly_admissible(value: str, max_length: int) -> bool:
    """True for text :func:`check_text` admits on sight: printable ASCII (no forbidden character,
    trivially NFC), not empty or blank, at most ``max_length`` characters. Anything else gets
    :func:`check_text`, which names the problem (the member's name is built only then)."""
    return value.isascii() and value.isprintable() and 0 < len(value) <= max_length and not value.isspace()


def record_content_problem(data: Mapping[str, Any]) -> AdmissionError | None:
    """The admission failure of a parsed record's content, or None when it is admissible.

    Checks the certificate object and the free-text ``reason`` (the members a
    reader stores or shows); the record's structure is ``certlife.contracts.records``' job.
    """
    try:
        cert = data.get("certificate")
        if isinstance(cert, Mapping):
            check_certificate(cert)
        reason = data.get("reason")
        if isinstance(reason, str):
            check_text("reason", reason)
    except AdmissionError as exc:
        return exc
    return None
