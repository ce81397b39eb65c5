"""RFC 8785 (JCS) canonical JSON restricted to I-JSON, with an ``orjson`` fast path.

The restriction: integers within ±(2**53 − 1), no floating point numbers,
object keys are strings, strings are valid Unicode (no lone surrogates).

Why the fast path is exact. For values of that restricted domain, JCS and
``orjson.dumps(value, option=OPT_SORT_KEYS)`` agree byte for byte when
no object key contains a character above U+FFFF:

* integers: both print plain decimal (ES6 number formatting of a safe
  integer is its decimal form);
* strings: both escape ``"``, ``\\``, ``\\b \\f \\n \\r \\t`` and the remaining
  controls below U+0020 as lowercase ``\\u00xx`` and write everything else,
  U+007F, U+2028/9 and non-ASCII included, as literal UTF-8 (checked for
  every ASCII character and by a property test against ``rfc8785``);
* key order: JCS sorts by UTF-16 code units, ``orjson`` by UTF-8 bytes, i.e.
  code points. The two orders differ only between a character above U+FFFF
  (a surrogate pair in UTF-16) and one in U+E000–U+FFFF, so they coincide
  when no key holds a supplementary character.

``parse_canonical`` takes the fast path when ``_fast_path_safe`` holds for
the input bytes, which must equal ``orjson``'s own re-encoding. In that
output every number token follows ``:``, ``,`` or ``[`` directly and every
float token is ``-?digits`` then ``.`` or ``e`` (``_FLOATS`` finds them);
integers outside ±(2**53 − 1) make ``OPT_STRICT_INTEGER`` raise; and every
supplementary character starts with a UTF-8 lead byte 0xF0–0xF4. Matches
inside strings (``"at 12:00.5"``) are false positives: they only send the
value through the full type check and ``rfc8785``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import rfc8785

from certlife.contracts.errors import CanonicalError

MAX_SAFE_INTEGER = 2**53 - 1

_SORT = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
#: The ``orjson`` options of the fast encoding (canonical where :func:`fast_canonical` says so).
CANONICAL_ORJSON = _SORT
# One pattern per token separator: a literal first byte keeps each search fast.
_FLOATS = tuple(re.compile(sep + rb"-?[0-9]+[.eE]") for sep in (b":", b",", b"\\["))
_SUPPLEMENTARY_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")


def _fast_path_safe(encoded: bytes) -> bool:
    """True if ``orjson`` output ``encoded`` holds no float or supplementary character."""
    if not encoded.isascii() and any(lead in encoded for lead in _SUPPLEMENTARY_LEADS):
        return False
    return not any(pattern.search(encoded) for pattern in _FLOATS)


def canonical_bytes(obj: Any) -> bytes:
    """Return the RFC 8785 encoding of ``obj``, an I-JSON value.

    Accepts ``dict`` (string keys), ``list``/``tuple``, ``str``, ``int``,
    ``bool`` and ``None`` (and their subclasses such as ``StrEnum``); raises
    :class:`CanonicalError` for anything else, for floats, for integers
    outside ±(2**53 − 1), for strings with lone surrogates and for values
    nested too deeply to encode.
    """
    use_reference = _check_value(obj)
    try:
        if use_reference:
            return rfc8785.dumps(obj)
        return orjson.dumps(obj, option=_SORT)
    except (orjson.JSONEncodeError, rfc8785.CanonicalizationError, UnicodeError) as exc:
        raise CanonicalError(f"cannot encode as canonical JSON: {exc}") from None
    except RecursionError:  # rfc8785 recurses once per level of nesting
        raise CanonicalError("cannot encode as canonical JSON: nested too deeply") from None


def parse_canonical(data: bytes) -> dict[str, Any]:
    """Parse ``data`` as a JSON object and require it to be canonical I-JSON.

    Raises :class:`CanonicalError` unless ``canonical_bytes`` of the parsed
    object is exactly ``data`` (no whitespace, sorted keys, no duplicate keys,
    minimal escapes, no floats or unsafe integers, no trailing newline).
    """
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CanonicalError(f"not JSON: {exc}", code="not-json") from None
    if type(obj) is not dict:
        raise CanonicalError("top level is not a JSON object")
    encoded = None
    if _fast_path_safe(data):
        try:
            encoded = orjson.dumps(obj, option=_SORT)
        except orjson.JSONEncodeError:
            encoded = None  # an unsafe integer: let the full check name it
    if encoded is None:
        encoded = canonical_bytes(obj)
    if encoded != data:
        raise CanonicalError("bytes are not the RFC 8785 canonical encoding")
    return obj


def encode_parsed(obj: dict[str, Any]) -> bytes:
    """Canonically encode a value that ``parse_canonical`` returned (or part of it).

    Such values hold only JSON types, so the type walk is skipped unless the
    fast encoding shows a float, a long integer or a supplementary character.
    """
    encoded = fast_canonical(obj)
    return encoded if encoded is not None else canonical_bytes(obj)  # the latter names any problem


def fast_canonical(obj: dict[str, Any]) -> bytes | None:
    """``orjson``'s sorted encoding of ``obj`` when it is the canonical one for JSON values (no float,
    long integer, supplementary character or non-string key); None when only ``canonical_bytes``
    can tell. Adding string members of printable ASCII to such an object keeps its fast encoding canonical."""
    try:
        encoded = orjson.dumps(obj, option=_SORT)
    except orjson.JSONEncodeError:
        return None
    return encoded if _fast_path_safe(encoded) else None


def _check_value(obj: Any) -> bool:
    """Validate the I-JSON domain; return True if only ``rfc8785`` can encode it."""
    use_reference = False
    stack = [obj]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is int or (isinstance(value, int) and not isinstance(value, bool)):
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                raise CanonicalError(f"integer {value} outside ±(2**53-1)")
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise CanonicalError(f"object key {key!r} is not a string")
                if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                    use_reference = True  # orjson rejects str-subclass keys
                stack.append(item)
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, str):
            continue
        elif isinstance(value, float):
            raise CanonicalError(f"floating point number {value!r} is not allowed")
        else:
            raise CanonicalError(f"{kind.__name__} is not a JSON type")
    return use_reference
