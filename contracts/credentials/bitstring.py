"""W3C Bitstring Status List encoding: GZIP, then multibase base64url without padding.

Bit ``i`` is bit ``7 - i % 8`` of byte ``i // 8``: bit 0 is the left-most (most
significant) bit of the first byte. A list has at least 131,072 entries (herd
privacy) and a power of two. GZIP is written with ``mtime = 0`` and no file name so
that the same bits give the same bytes (and the same hash) on every run with the
same zlib; a verifier compares decoded bits, never re-compressed bytes.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from collections.abc import Iterable

from certlife.contracts.credentials.errors import CredentialError

#: The Recommendation's minimum number of entries (16 KiB of bits).
MIN_ENTRIES = 131072
#: The most entries a list may have (16 MiB of bits): bounds what a verifier decompresses.
MAX_ENTRIES = 1 << 27


def list_size(count: int) -> int:
    """Return the number of entries of a list holding ``count`` indexes: max(131072, 2^⌈log2 count⌉)."""
    if count < 0:
        raise ValueError("count must not be negative")
    size = MIN_ENTRIES
    while size < count:
        size *= 2
    return size


def _bad(why: str) -> CredentialError:
    return CredentialError(f"malformed encodedList: {why}", code="statuslist-format")


def encode_bits(set_bits: Iterable[int], size: int) -> bytes:
    """Return the raw bitstring of ``size`` entries with exactly ``set_bits`` set."""
    if size < MIN_ENTRIES or size > MAX_ENTRIES or size % 8:
        raise ValueError(f"a list has 131072 to 2**27 entries, a multiple of 8, not {size}")
    bits = bytearray(size // 8)
    for index in set_bits:
        if not 0 <= index < size:
            raise ValueError(f"bit {index} is outside a list of {size} entries")
        bits[index // 8] |= 0x80 >> (index % 8)
    return bytes(bits)


def encode_list(set_bits: Iterable[int], size: int) -> str:
    """Return the ``encodedList`` of a list of ``size`` entries with ``set_bits`` set."""
    compressed = gzip.compress(encode_bits(set_bits, size), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode("ascii").rstrip("=")


def _b64url(text: str) -> bytes:
    if "=" in text or len(text) % 4 == 1:
        raise _bad("not unpadded base64url")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise _bad("not unpadded base64url") from None
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != text:
        raise _bad("not the canonical base64url encoding")
    return raw


def decode_list(encoded: str) -> bytes:
    """Return the raw bitstring of an ``encodedList`` (``u`` + base64url of one GZIP member).

    Raises :class:`CredentialError` ``statuslist-format`` on another multibase prefix, bad
    base64url, data that is not exactly one GZIP member, or fewer than 131,072 or more
    than 2^27 entries.
    """
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise _bad("not a base64url multibase string (u…)")
    if len(encoded) > MAX_ENTRIES // 4:  # far more than any compressed list of MAX_ENTRIES
        raise _bad("too long")
    compressed = _b64url(encoded[1:])
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # GZIP framing only
    try:
        bits = inflater.decompress(compressed, MAX_ENTRIES // 8 + 1)
    except zlib.error as exc:
        raise _bad(f"not GZIP data ({exc})") from None
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        raise _bad("not exactly one complete GZIP member, or more than 2**27 entries")
    if not MIN_ENTRIES <= len(bits) * 8 <= MAX_ENTRIES:
        raise _bad(f"{len(bits) * 8} entries, not between {MIN_ENTRIES} and {MAX_ENTRIES}")
    return bits


def bit_at(bits: bytes, index: int) -> bool:
    """Return entry ``index`` of a raw bitstring (bit 0 = left-most bit of the first byte)."""
    if not 0 <= index < len(bits) * 8:
        raise CredentialError(
            f"status list index {index} is outside a list of {len(bits) * 8} entries",
            code="statuslist-format",
        )
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def set_indexes(bits: bytes) -> list[int]:
    """Return the indexes of the set entries of a raw bitstring, ascending."""
    return [
        byte_index * 8 + bit
        for byte_index, byte in enumerate(bits)
        if byte
        for bit in range(8)
        if byte & (0x80 >> bit)
    ]
