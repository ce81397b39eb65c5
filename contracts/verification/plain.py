"""The common record, recognised on its bytes: a plain certificate record of the trusted origin.

:func:`recognise` matches a record's bytes against a regular expression
(:func:`plain_record_patterns`) that spells out the exact RFC 8785 (JCS)
encoding of a certificate record whose every value is plain, and returns its
fields without building a JSON object (:func:`compact_facts` gives them as
``RecordFacts`` would; the workers pack them into runs). Bytes holding no
backslash and no control character (one ``translate`` pass) are matched by a
variant whose strings are a single fast scan to the next ``"``; any others by
the general pattern. A match is a promise that the full path
(``parse_record``: ``orjson`` parse, ``canonical_bytes`` equality,
``check_record``) accepts the same bytes and derives the same facts; anything
else returns None and takes the full path, which names the problem. Why a
match keeps that promise:

* members: exactly the certificate record's and the certificate's members,
  in JCS order (ASCII names, so UTF-16 and byte order agree), each once;
* strings: JCS writes ``"`` and ``\\`` escaped, ``\\b \\t \\n \\f \\r`` short,
  every other character below U+0020 as lowercase ``\\u00xx`` and everything
  else (U+007F, non-ASCII) literally; the pattern allows exactly that, and the
  bytes must be UTF-8 (so no lone surrogate either). Values the chain
  steps read (``number``) must hold no escape, so their text is their bytes;
* integers: ``index`` and ``seq`` in plain decimal without leading zeros and
  at most 15 digits (well inside ±(2**53 − 1)); ``v`` is ``1``;
* the formatted values use ``record_checks``' safe patterns (dates valid in
  every year, base64 of 64 bytes in its one canonical form, hex digits);
  ``event`` and ``status`` are names; ``origin`` is the trusted origin;
  ``reason`` is null or a non-empty string; ``prev`` is null exactly when
  ``seq`` is 1, which is exactly the ``issued`` event (checked after the match).

``tests/unit/test_plain_bytes.py`` holds the recogniser to that promise.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import cast

from certlife.contracts.keys import opens
from certlife.contracts.record_checks import _B64_SIG, _SAFE_DATE_OR_TIME, _SAFE_TIME, SIGNING_PREFIX
from certlife.contracts.verification.codes import EVENT_NAMES, STATUS_NAMES

#: The facts of a plain certificate record of the trusted origin, as a plain tuple
#: (cheap to pickle): ``(position, index, keyId, sig_ok, number, event, status, seq,
#: prev, recordedAt, effectiveAt, leaf, digest)``, fields as in ``facts.RecordFacts``.
CompactFacts = tuple[int, int, str, "bool | None", str, str, str, int, "bytes | None", str, str, bytes, bytes]

_CH = rb'[^"\\\x00-\x1f]'
#: A JCS string: unescaped characters, the short escapes, ``\u00xx`` for the other controls.
_STR = rb'"' + _CH + rb"*+(?:\\(?:[\"\\bfnrt]|u00(?:0[0-7bef]|1[0-9a-f]))" + _CH + rb'*+)*+"'
#: The same for bytes known to hold no backslash and no control character (one fast scan).
_PLAIN_STR = rb'"[^"]*+"'
#: Bytes whose presence sends a record to the general pattern: escapes and controls.
_ESCAPING = bytes(range(0x20)) + b"\\"
_DATE_OR_TIME = _SAFE_DATE_OR_TIME.pattern.encode("ascii")
_TIME = _SAFE_TIME.pattern.encode("ascii")
#: A ``sig`` member as JCS writes it, up to its value (never a record's first member).
SIG_MEMBER = b',"sig":"'
_ISSUED = b"issued"
_sha256 = hashlib.sha256
#: The groups of a match: number, effectiveAt, event, index, keyId, prev (None when
#: null), recordedAt, seq, sig, status, as bytes; then sig_ok.
Recognised = tuple[
    bytes, bytes, bytes, bytes, bytes, "bytes | None", bytes, bytes, bytes, bytes, "bool | None"
]
#: The same groups with the signature still to check: then ``signature || signing input``
#: and the raw public key (what :func:`~certlife.contracts.keys.opens` takes) in place of sig_ok.
Pending = tuple[bytes, bytes, bytes, bytes, bytes, "bytes | None", bytes, bytes, bytes, bytes, bytes, bytes]


def _names(names: tuple[str, ...]) -> bytes:
    return b"|".join(re.escape(name.encode("ascii")) for name in names)


def _record_pattern(origin: str, string: bytes, number: bytes) -> re.Pattern[bytes]:
    """The plain certificate record of ``origin``, strings written as ``string`` (a pattern)."""
    strings = rb"\[(?:" + string + rb"(?:," + string + rb")*+)?\]"
    pattern = (
        rb'\{"certificate":\{"factories":' + strings + rb',"holder":' + string + rb',"manufacturer":' + string
        + rb',"models":' + strings + rb',"number":"(' + number + rb'++)","product":' + string + rb',"scheme":'
        + string + rb',"scope":' + string + rb',"standards":' + strings + rb',"validFrom":"' + _DATE_OR_TIME
        + rb'","validUntil":"' + _DATE_OR_TIME + rb'"\},"effectiveAt":"(' + _TIME + rb')","event":"('
        + _names(EVENT_NAMES) + rb')","index":(0|[1-9][0-9]{0,14}),"keyId":"([0-9a-f]{16})",'
        + rb'"kind":"certificate","origin":' + re.escape(b'"' + origin.encode("utf-8") + b'"')
        + rb',"prev":(?:null|"([0-9a-f]{64})"),"reason":(?:null|(?!"")' + string + rb'),"recordedAt":"('
        + _TIME + rb')","seq":([1-9][0-9]{0,14}),"sig":"(' + _B64_SIG.pattern.encode("ascii")
        + rb')","status":"(' + _names(STATUS_NAMES) + rb')","v":1\}'
    )  # fmt: skip
    return re.compile(pattern)


@lru_cache(maxsize=8)
def plain_record_patterns(origin: str) -> tuple[re.Pattern[bytes], re.Pattern[bytes]] | None:
    """The patterns of a plain certificate record of ``origin``: (general, no escapes), or None.

    The general one allows every JCS string; the other only strings without
    escapes, for bytes holding no backslash and no control character (where
    both match the same). None when ``origin`` is empty or JCS escapes it.
    Groups: number, effectiveAt, event, index, keyId, prev (None when null),
    recordedAt, seq, sig, status.
    """
    if not origin or _origin_needs_escape(origin):
        return None
    return _record_pattern(origin, _STR, _CH), _record_pattern(origin, _PLAIN_STR, rb'[^"]')


def _origin_needs_escape(origin: str) -> bool:
    """True if JCS would escape a character of ``origin`` (then the full path handles it)."""
    return any(c in '"\\' or c < " " or "\ud800" <= c <= "\udfff" for c in origin)


def recognise(raw: bytes, keys: Mapping[str, bytes], check_signature: bool, origin: str) -> Recognised | None:
    """The groups of a plain certificate record of ``origin`` and its ``sig_ok``, or None.

    ``keys`` maps keyIds to raw public keys; with ``check_signature`` a
    record whose key is not in ``keys`` returns None, and ``sig_ok`` says
    whether the signature verifies (else it is None). A loop over many
    records calls :func:`recogniser` once instead.
    """
    found = recogniser(keys, True, origin) if check_signature else _unsigned_recogniser(origin)
    return found(raw)


@lru_cache(maxsize=8)
def _unsigned_recogniser(origin: str) -> Callable[[bytes], Recognised | None]:
    return recogniser({}, False, origin)


def _no_match(raw: bytes) -> None:
    return None


def recogniser(
    keys: Mapping[str, bytes], check_signature: bool, origin: str
) -> Callable[[bytes], Recognised | None]:
    """:func:`recognise` of one record's bytes, its other arguments bound once (for a loop over records)."""
    if check_signature:
        pending = pending_recogniser(keys, origin)

        def checked(raw: bytes) -> Recognised | None:
            found = pending(raw)
            return None if found is None else (*found[:10], opens(found[10], found[11]))

        return checked
    matched = _matcher(origin)

    def unchecked(raw: bytes) -> Recognised | None:
        match = matched(raw)
        return None if match is None else cast(Recognised, (*match.groups(), None))

    return unchecked


def pending_recogniser(keys: Mapping[str, bytes], origin: str) -> Callable[[bytes], Pending | None]:
    """:func:`recognise` with the signature check left to the caller: the groups, then what
    :func:`~certlife.contracts.keys.opens` takes (a record whose key is not in ``keys``
    returns None, as with ``check_signature``).

    A loop that recognises a chunk's records first and then opens all their
    signatures in a loop of its own runs faster than one that alternates the
    two: libsodium's verification code and tables stay in the core's caches.
    """
    matched = _matcher(origin)

    def pending(raw: bytes) -> Pending | None:
        match = matched(raw)
        if match is None:
            return None
        number, effective, event, index, key, prev, recorded, seq, sig, status = match.groups()
        public = keys.get(key.decode("ascii"))
        if public is None:
            return None
        signed = binascii.a2b_base64(sig) + signing_input_around(raw, *match.span(9))
        return number, effective, event, index, key, prev, recorded, seq, sig, status, signed, public

    return pending


def signature_span(raw: bytes, origin: str) -> tuple[int, int] | None:
    """Where the ``sig`` value of ``raw`` lies when :func:`recognise` takes ``raw`` for a plain
    certificate record of ``origin``: ``(start, end)`` of its base64 text, between its quotes; else None.

    Any other canonical base64 of 64 bytes written there leaves a record :func:`recognise` takes
    as well: the pattern asks that form of the value and nothing else of it.
    """
    match = _matcher(origin)(raw)
    return None if match is None else match.span(9)


def signing_input_around(raw: bytes, start: int, end: int) -> bytes:
    """The signing input of canonical record bytes whose ``sig`` value is ``raw[start:end]``:
    ``SIGNING_PREFIX`` and the bytes without their ``,"sig":"…"`` member.

    JCS writes members in sorted order separated by commas and ``sig`` is never a record's
    first member, so removing that member gives JCS of the record without ``sig``.
    """
    return SIGNING_PREFIX + raw[: start - len(SIG_MEMBER)] + raw[end + 1 :]


@lru_cache(maxsize=8)
def _matcher(origin: str) -> Callable[[bytes], re.Match[bytes] | None]:
    """The match of a plain certificate record of ``origin`` on its bytes (groups as in
    :func:`plain_record_patterns`) that passed the checks a pattern cannot make; else None."""
    patterns = plain_record_patterns(origin)
    if patterns is None:
        return _no_match
    general, unescaped = patterns
    escaping, issued = _ESCAPING, _ISSUED

    def match_bytes(raw: bytes) -> re.Match[bytes] | None:
        match = (unescaped if len(raw.translate(None, escaping)) == len(raw) else general).fullmatch(raw)
        if match is None:
            return None
        event, prev, seq = match.group(3, 6, 8)
        if (prev is None) != (seq == b"1") or (seq == b"1") != (event == issued):
            return None
        if not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
        return match

    return match_bytes


def compact_facts(
    position: int, raw: bytes, keys: Mapping[str, bytes], check_signature: bool, origin: str
) -> CompactFacts | None:
    """The facts of a plain certificate record of ``origin`` (module docstring), or None.

    As :func:`recognise` (same arguments) decides; the fields decoded as RecordFacts holds them.
    """
    found = recognise(raw, keys, check_signature, origin)
    if found is None:
        return None
    number, effective, event, index, key, prev, recorded, seq, _, status, sig_ok = found
    return (
        position, int(index), key.decode("ascii"), sig_ok, number.decode("utf-8"), event.decode("ascii"),
        status.decode("ascii"), int(seq), None if prev is None else binascii.a2b_hex(prev),
        recorded.decode("ascii"), effective.decode("ascii"), _sha256(b"\x00" + raw).digest(), _sha256(raw).digest(),
    )  # fmt: skip
