"""contracts.tiles: C2SP tlog-tiles paths and encodings, and proofs from tiles equal to merkle.py's."""

from __future__ import annotations

import random
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certlife.contracts import merkle
from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion
from certlife.contracts.tiles import (
    ENTRIES_LEVEL,
    MAX_ENTRY_BYTES,
    TiledHashes,
    TileError,
    decode_entries,
    decode_hashes,
    encode_entries,
    encode_hashes,
    entries_path,
    parse_tile_path,
    partial_tiles,
    tile_path,
    tile_width,
)

pytestmark = pytest.mark.unit

BIG = 70_000  # the spec's example size


@cache
def _leaves() -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(BIG)]


def tiles_of(leaves: list[bytes]) -> dict[tuple[int, int, int], bytes]:
    """Every tile (full, and partial of this size) of the tree over ``leaves``, built the naive way."""
    tiles, level, hashes = {}, 0, leaves
    while hashes:
        for start in range(0, len(hashes), 256):
            chunk = hashes[start : start + 256]
            tiles[(level, start // 256, len(chunk))] = b"".join(chunk)
        hashes = [root_from_leaf_hashes(hashes[i : i + 256]) for i in range(0, len(hashes) - 255, 256)]
        level += 1
    return tiles


def tiled(
    size: int, root: bytes | None = None, tiles: dict[tuple[int, int, int], bytes] | None = None
) -> TiledHashes:
    data = tiles if tiles is not None else tiles_of(_leaves()[:size])
    return TiledHashes(lambda level, index, width: data[(level, index, width)], size, root)


# -- paths -------------------------------------------------------------------


def test_paths_follow_the_spec_examples() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(1, 1234) == "tile/1/x001/234"
    assert tile_path(0, 1000) == "tile/0/x001/000"
    assert tile_path(2, 5, 17) == "tile/2/005.p/17"
    assert entries_path(1234067) == "tile/entries/x001/x234/067"
    assert entries_path(273, 112) == "tile/entries/273.p/112"
    assert tile_path(63, 0) == "tile/63/000"


@pytest.mark.parametrize(
    ("level", "index", "width"), [(64, 0, 256), (-1, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257)]
)
def test_paths_out_of_range_are_refused(level: int, index: int, width: int) -> None:
    with pytest.raises(ValueError):
        tile_path(level, index, width)


def test_partial_tiles_of_the_spec_examples() -> None:
    # 70,000: 273 full level-0 tiles, one of width 112; one full level-1 tile, one of width 17; one level 2 of width 1.
    assert list(partial_tiles(70_000)) == [(0, 273, 112), (1, 1, 17), (2, 0, 1)]
    assert (tile_width(0, 272, 70_000), tile_width(1, 0, 70_000), tile_width(0, 274, 70_000)) == (256, 256, 0)
    assert list(partial_tiles(256)) == [(1, 0, 1)]  # a full level-0 tile and a level-1 tile of width 1
    assert list(partial_tiles(0)) == []
    assert sorted(k for k in tiles_of(_leaves()) if k[2] != 256) == [(0, 273, 112), (1, 1, 17), (2, 0, 1)]


@given(st.integers(-1, 63), st.integers(0, 10**12), st.integers(1, 256))
def test_parse_tile_path_inverts_the_paths(level: int, index: int, width: int) -> None:
    path = entries_path(index, width) if level == ENTRIES_LEVEL else tile_path(level, index, width)
    assert parse_tile_path(path) == (level, index, width)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/001",  # a zero leading group: not the canonical 001
        "tile/0/1",
        "tile/0/0001",
        "tile/00/000",
        "tile/64/000",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/07",
        "tile/entries/001/002",
        "tile/0/000/",
        "tile/0/../000",
        "/tile/0/000",
        "checkpoint",
        "tile/entries",
    ],
)
def test_parse_tile_path_refuses_anything_else(path: str) -> None:
    assert parse_tile_path(path) is None


# -- encodings ---------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=256))
def test_entry_bundles_round_trip(entries: list[bytes]) -> None:
    data = encode_entries(entries)
    assert data == b"".join(len(e).to_bytes(2, "big") + e for e in entries)
    assert decode_entries(data) == entries
    assert decode_entries(data, len(entries)) == entries


def test_entry_of_65535_bytes_fits_and_one_more_is_refused() -> None:
    big = b"x" * MAX_ENTRY_BYTES
    assert decode_entries(encode_entries([big, b""])) == [big, b""]
    with pytest.raises(TileError) as caught:
        encode_entries([b"a", big + b"x"])
    assert caught.value.code == "entry-too-large"
    assert isinstance(caught.value, ContractError)


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x05abcd", b"\x00\x01a\x00"])
def test_truncated_bundles_are_malformed(data: bytes) -> None:
    with pytest.raises(TileError) as caught:
        decode_entries(data)
    assert caught.value.code == "malformed-bundle"


def test_bundle_with_the_wrong_number_of_entries_is_malformed() -> None:
    with pytest.raises(TileError, match="holds 2 entries, expected 3"):
        decode_entries(encode_entries([b"a", b"b"]), 3)


def test_hash_tiles() -> None:
    hashes = _leaves()[:3]
    assert decode_hashes(encode_hashes(hashes), 3) == hashes
    for bad in (encode_hashes(hashes)[:-1], encode_hashes(hashes) + b"\x00"):
        with pytest.raises(TileError) as caught:
            decode_hashes(bad, 3)
        assert caught.value.code == "malformed-tile"
    with pytest.raises(ValueError):
        encode_hashes([b"short"])


# -- TiledHashes against merkle.py -----------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_tiled_proofs_equal_merkle_proofs(size: int, data: st.DataObject) -> None:
    leaves = _leaves()[:size]
    hashes = tiled(size, root_from_leaf_hashes(leaves))
    assert hashes.root() == root_from_leaf_hashes(leaves)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    assert hashes.leaf_hash(index) == leaves[index]
    assert hashes.inclusion_proof(index) == merkle.inclusion_proof(leaves, index, size)
    assert hashes.consistency_proof(old) == merkle.consistency_proof(leaves, old, size)


@pytest.mark.parametrize("size", [1, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, BIG])
def test_tiled_proofs_at_tile_boundaries(size: int) -> None:
    leaves = _leaves()[:size]
    root = root_from_leaf_hashes(leaves)
    hashes = tiled(size, root)
    rng = random.Random(size)
    for index in {0, size - 1, size // 2, rng.randrange(size)}:
        proof = hashes.inclusion_proof(index)
        assert proof == merkle.inclusion_proof(leaves, index, size)
        verify_inclusion(leaves[index], index, size, proof, root)
    for old in {1, size, max(1, size - 1), 256, 65_536, rng.randrange(1, size + 1)}:
        if old <= size:
            proof = hashes.consistency_proof(old)
            assert proof == merkle.consistency_proof(leaves, old, size)
            verify_consistency(old, size, root_from_leaf_hashes(leaves[:old]), root, proof)


def test_empty_tree_and_argument_errors() -> None:
    assert TiledHashes(lambda *a: b"", 0).root() == merkle.EMPTY_ROOT
    hashes = tiled(10)
    for call in (
        lambda: hashes.leaf_hash(10),
        lambda: hashes.inclusion_proof(-1),
        lambda: hashes.consistency_proof(0),
    ):
        with pytest.raises(ValueError):
            call()


def test_tiles_are_read_once() -> None:
    data, reads = tiles_of(_leaves()[:1000]), []

    def read(level: int, index: int, width: int) -> bytes:
        reads.append((level, index, width))
        return data[(level, index, width)]

    hashes = TiledHashes(read, 1000)
    for index in range(0, 1000, 7):
        hashes.inclusion_proof(index)
    assert len(reads) == len(set(reads)) <= len(data)


# -- tampering -----------------------------------------------------------------


def _flip(tiles: dict[tuple[int, int, int], bytes], key: tuple[int, int, int], at: int = 5) -> None:
    tile = bytearray(tiles[key])
    tile[at] ^= 1
    tiles[key] = bytes(tile)


@pytest.mark.parametrize(
    ("key", "probe"),
    [
        ((0, 100, 256), 25_603),
        ((1, 0, 256), 300),
        ((0, 273, 112), None),
        ((1, 1, 17), None),
        ((2, 0, 1), None),
    ],
)
def test_a_tampered_tile_is_detected_against_the_root(key: tuple[int, int, int], probe: int | None) -> None:
    leaves = _leaves()
    root = root_from_leaf_hashes(leaves)
    tiles = tiles_of(leaves)
    _flip(tiles, key)
    with pytest.raises(TileError) as caught:
        hashes = tiled(BIG, root, tiles)  # a partial tile of the right edge: the root does not match
        assert probe is not None
        hashes.inclusion_proof(probe)  # a full tile: it does not match its entry in the tile above
    assert caught.value.code == "tile-mismatch"
    # Unauthenticated, the same tile yields a wrong root or a wrong proof.
    loose = tiled(BIG, None, tiles)
    if probe is None:
        assert loose.root() != root
    else:
        assert loose.inclusion_proof(probe) != merkle.inclusion_proof(leaves, probe, BIG)


def test_a_tile_of_the_wrong_length_is_malformed() -> None:
    tiles = tiles_of(_leaves()[:600])
    tiles[(0, 1, 256)] = tiles[(0, 1, 256)][:-32]
    with pytest.raises(TileError) as caught:
        tiled(600, None, tiles).leaf_hash(300)
    assert caught.value.code == "malformed-tile"


def test_verify_entries_checks_a_bundle_against_its_tile() -> None:
    entries = [i.to_bytes(4, "big") for i in range(300)]
    hashes = tiled(300, root_from_leaf_hashes(_leaves()[:300]))
    hashes.verify_entries(0, entries[:256])
    hashes.verify_entries(1, entries[256:])
    for bad in (entries[1:257], entries[256:-1], [*entries[256:-1], b"other"]):
        with pytest.raises(TileError) as caught:
            hashes.verify_entries(0 if len(bad) == 256 else 1, bad)
        assert caught.value.code == "tile-mismatch"
