"""``MerkleFrontier.extend`` builds the same tree as appending the leaves one by one."""

from __future__ import annotations

import hashlib

import pytest

from certlife.contracts import merkle
from certlife.contracts.merkle import MerkleFrontier, leaf_hash, root_from_leaf_hashes

pytestmark = pytest.mark.unit

LEAVES = [leaf_hash(str(i).encode()) for i in range(70)]


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 7, 8, 31, 32, 33, 64, 69, 70])
def test_extend_in_two_parts_equals_append(cut: int) -> None:
    one = MerkleFrontier()
    for leaf in LEAVES:
        one.append(leaf)
    two = MerkleFrontier()
    two.extend(LEAVES[:cut])
    assert two.size == cut and two.root() == root_from_leaf_hashes(LEAVES[:cut])
    two.extend(iter(LEAVES[cut:]))
    assert two.size == one.size == len(LEAVES)
    assert two.root() == one.root() == root_from_leaf_hashes(LEAVES)
    assert two.to_json() == one.to_json()


def test_extend_stops_at_a_bad_leaf_with_the_leaves_before_it() -> None:
    frontier = MerkleFrontier()
    with pytest.raises(ValueError, match="32 bytes"):
        frontier.extend([*LEAVES[:5], b"short", *LEAVES[5:]])
    assert frontier.size == 5 and frontier.root() == root_from_leaf_hashes(LEAVES[:5])
    frontier.append(LEAVES[5])
    assert frontier.root() == root_from_leaf_hashes(LEAVES[:6])
    assert frontier.root() != hashlib.sha256(b"").digest()


@pytest.mark.parametrize("batch", [1, 2, 3, 5, 4096])
def test_extend_in_batches_equals_append_at_every_size(batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Level-by-level hashing of each batch (``EXTEND_BATCH``) leaves the frontier appending would."""
    monkeypatch.setattr(merkle, "EXTEND_BATCH", batch)
    for start in range(0, 40, 3):
        for length in (1, 2, 3, 4, 7, 8, 9, 16, 30):
            one, two = MerkleFrontier(), MerkleFrontier()
            two.extend(LEAVES[:start])
            two.extend(LEAVES[start : start + length])
            for leaf in LEAVES[: start + length]:
                one.append(leaf)
            assert two.to_json() == one.to_json()
            assert two.root() == root_from_leaf_hashes(LEAVES[: start + length])
