"""Bitstring Status List encoding: round trip and the Recommendation's rules."""

from __future__ import annotations

import base64
import gzip
import random

import pytest

from certlife.contracts.credentials.bitstring import (
    MIN_ENTRIES,
    bit_at,
    decode_list,
    encode_bits,
    encode_list,
    list_size,
    set_indexes,
)
from certlife.contracts.credentials.errors import CredentialError

pytestmark = pytest.mark.unit


def _b64url(raw: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_list_size_is_at_least_131072_and_a_power_of_two() -> None:
    assert [list_size(n) for n in (0, 1, 131072, 131073, 300000)] == [131072, 131072, 131072, 262144, 524288]
    with pytest.raises(ValueError):
        list_size(-1)


def test_bit_zero_is_the_left_most_bit_of_the_first_byte() -> None:
    bits = encode_bits({0, 9, MIN_ENTRIES - 1}, MIN_ENTRIES)
    assert bits[:2] == bytes([0b1000_0000, 0b0100_0000]) and bits[-1] == 0b0000_0001
    assert len(bits) == MIN_ENTRIES // 8 and sum(bits) == 0x80 + 0x40 + 0x01


def test_encoded_list_is_u_unpadded_base64url_of_gzip_with_mtime_zero() -> None:
    encoded = encode_list({5}, MIN_ENTRIES)
    assert encoded.startswith("u") and "=" not in encoded and "+" not in encoded and "/" not in encoded
    compressed = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
    assert compressed[:4] == b"\x1f\x8b\x08\x00"  # GZIP, deflate, no flags (no file name)
    assert compressed[4:8] == b"\0\0\0\0"  # mtime 0
    assert gzip.decompress(compressed) == encode_bits({5}, MIN_ENTRIES)
    assert encode_list({5}, MIN_ENTRIES) == encoded  # reproducible


def test_round_trip_of_random_lists() -> None:
    rng = random.Random(14)
    for size in (MIN_ENTRIES, 2 * MIN_ENTRIES):
        chosen = {rng.randrange(size) for _ in range(500)}
        bits = decode_list(encode_list(chosen, size))
        assert len(bits) * 8 == size
        assert set_indexes(bits) == sorted(chosen)
        assert all(bit_at(bits, i) == (i in chosen) for i in range(0, size, 97))


def test_encoding_refuses_small_lists_and_bits_outside() -> None:
    with pytest.raises(ValueError):
        encode_bits(set(), MIN_ENTRIES // 2)
    with pytest.raises(ValueError):
        encode_bits({MIN_ENTRIES}, MIN_ENTRIES)


@pytest.mark.parametrize(
    "encoded",
    [
        "z" + encode_list(set(), MIN_ENTRIES)[1:],  # another multibase
        encode_list(set(), MIN_ENTRIES) + "=",  # padding
        _b64url(gzip.compress(bytes(MIN_ENTRIES // 8), mtime=0)).replace("-", "+").replace("_", "/") + "+/",
        _b64url(b"not gzip at all"),
        _b64url(__import__("zlib").compress(bytes(MIN_ENTRIES // 8))),  # zlib, not GZIP
        _b64url(gzip.compress(bytes(MIN_ENTRIES // 16), mtime=0)),  # 65,536 entries
        _b64url(gzip.compress(bytes(MIN_ENTRIES // 8), mtime=0) * 2),  # two members
        _b64url(gzip.compress(bytes(MIN_ENTRIES // 8), mtime=0)[:-4]),  # truncated
        _b64url(gzip.compress(bytes((1 << 24) + 1), mtime=0)),  # more than 2**27 entries
    ],
)
def test_decoding_refuses_what_the_recommendation_does_not_allow(encoded: str) -> None:
    with pytest.raises(CredentialError) as caught:
        decode_list(encoded)
    assert caught.value.code == "statuslist-format"


def test_bit_at_refuses_an_index_outside_the_list() -> None:
    bits = encode_bits(set(), MIN_ENTRIES)
    with pytest.raises(CredentialError) as caught:
        bit_at(bits, MIN_ENTRIES)
    assert caught.value.code == "statuslist-format"
