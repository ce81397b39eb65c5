"""RFC 6962 Merkle trees: published vectors, transparency-dev probes, properties."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certlife.contracts.errors import ProofError
from certlife.contracts.merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.unit

VECTORS = Path(__file__).parents[1] / "vectors" / "merkle"
RFC = json.loads((VECTORS / "rfc6962.json").read_text())
LEAVES = [bytes.fromhex(h) for h in RFC["leaves_hex"]]
LEAF_HASHES = [leaf_hash(leaf) for leaf in LEAVES]
PROBES = VECTORS / "transparency-dev"
INCLUSION = sorted((PROBES / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((PROBES / "consistency").rglob("*.json"))


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _b(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def test_hasher_known_answers() -> None:
    for kat in RFC["hasher_kats"]:
        fn = kat["function"]
        if fn == "empty_root":
            got = EMPTY_ROOT
        elif fn == "leaf":
            got = leaf_hash(_h(kat["input_hex"]))
        else:
            got = node_hash(_h(kat["left_hex"]), _h(kat["right_hex"]))
        assert got.hex() == kat["hash_hex"], kat["desc"]


def test_node_hashes_and_roots_of_the_8_leaf_tree() -> None:
    assert [h.hex() for h in LEAF_HASHES] == RFC["node_hashes_hex"][0]
    level = LEAF_HASHES
    for expected in RFC["node_hashes_hex"][1:]:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        assert [h.hex() for h in level] == expected
    for n, root in enumerate(RFC["root_hex_by_size"]):
        assert root_from_leaf_hashes(LEAF_HASHES[:n]).hex() == root


@pytest.mark.parametrize("case", RFC["inclusion_proofs"], ids=lambda c: f"{c['leaf_index']}")
def test_rfc_inclusion_proofs(case: dict) -> None:
    proof = inclusion_proof(LEAF_HASHES, case["leaf_index"], case["tree_size"])
    assert [p.hex() for p in proof] == case["proof_hex"]
    verify_inclusion(
        _h(case["leaf_hash_hex"]), case["leaf_index"], case["tree_size"], proof,
        _h(case["root_hex"]),
    )  # fmt: skip


@pytest.mark.parametrize("case", RFC["consistency_proofs"], ids=lambda c: f"{c['size1']}")
def test_rfc_consistency_proofs(case: dict) -> None:
    proof = consistency_proof(LEAF_HASHES, case["size1"], case["size2"])
    assert [p.hex() for p in proof] == case["proof_hex"]
    verify_consistency(case["size1"], case["size2"], _h(case["root1_hex"]), _h(case["root2_hex"]), proof)


def test_probe_files_are_all_present() -> None:
    assert len(INCLUSION) == 98 and len(CONSISTENCY) == 98


@pytest.mark.parametrize("path", INCLUSION, ids=lambda p: str(p.relative_to(PROBES)))
def test_inclusion_probe(path: Path) -> None:
    c = json.loads(path.read_text())
    args = (base64.b64decode(c["leafHash"]), c["leafIdx"], c["treeSize"], _b(c["proof"]))
    if c["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args, base64.b64decode(c["root"]))
    else:
        verify_inclusion(*args, base64.b64decode(c["root"]))


@pytest.mark.parametrize("path", CONSISTENCY, ids=lambda p: str(p.relative_to(PROBES)))
def test_consistency_probe(path: Path) -> None:
    c = json.loads(path.read_text())
    args = (c["size1"], c["size2"], base64.b64decode(c["root1"]), base64.b64decode(c["root2"]))
    if c["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args, _b(c["proof"]))
    else:
        verify_consistency(*args, _b(c["proof"]))


def test_error_messages_are_precise() -> None:
    root = root_from_leaf_hashes(LEAF_HASHES)
    proof = inclusion_proof(LEAF_HASHES, 2, 8)
    with pytest.raises(ProofError, match="too short") as info:
        verify_inclusion(LEAF_HASHES[2], 2, 8, proof[:-1], root)
    assert info.value.code == "inclusion-proof"
    with pytest.raises(ProofError, match="too long"):
        verify_inclusion(LEAF_HASHES[2], 2, 8, [*proof, root], root)
    with pytest.raises(ProofError, match="not below tree size"):
        verify_inclusion(LEAF_HASHES[2], 8, 8, proof, root)
    with pytest.raises(ProofError, match="old root") as info:
        verify_consistency(3, 8, root, root, consistency_proof(LEAF_HASHES, 3, 8))
    assert info.value.code == "consistency-proof"


def test_frontier_round_trips_through_json() -> None:
    frontier = MerkleFrontier()
    for h in LEAF_HASHES[:7]:
        frontier.append(h)
    restored = MerkleFrontier.from_json(json.loads(json.dumps(frontier.to_json())))
    assert restored.size == 7 and restored.root() == frontier.root()
    copy = frontier.copy()
    copy.append(LEAF_HASHES[7])
    assert frontier.size == 7 and copy.root().hex() == RFC["root_hex_by_size"][8]
    with pytest.raises(ValueError, match="needs 3 hashes"):
        MerkleFrontier.from_json({"size": 7, "hashes": frontier.to_json()["hashes"][:2]})


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300))
def test_frontier_root_equals_full_tree_root(n: int) -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    frontier = MerkleFrontier()
    for h in hashes:
        frontier.append(h)
    assert frontier.size == n
    assert frontier.root() == root_from_leaf_hashes(hashes) == _reference_root(hashes)


def _reference_root(hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH, written recursively as in the RFC (independent of the frontier)."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(_reference_root(hashes[:k]), _reference_root(hashes[k:]))


@st.composite
def _index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, 200))
    return draw(st.integers(0, size - 1)), size


@settings(max_examples=150, deadline=None)
@given(_index_and_size())
def test_generated_inclusion_proofs_verify(case: tuple[int, int]) -> None:
    index, size = case
    hashes = [leaf_hash(bytes([i % 256, i // 256])) for i in range(size)]
    root = root_from_leaf_hashes(hashes)
    proof = inclusion_proof(hashes, index, size)
    verify_inclusion(hashes[index], index, size, proof, root)
    if size > 1:
        other = (index + 1) % size
        with pytest.raises(ProofError):
            verify_inclusion(hashes[index], other, size, proof, root)


@settings(max_examples=150, deadline=None)
@given(_index_and_size())
def test_generated_consistency_proofs_verify(case: tuple[int, int]) -> None:
    m, n = case[0] + 1, case[1]
    hashes = [leaf_hash(bytes([i % 256, i // 256])) for i in range(n)]
    old, new = root_from_leaf_hashes(hashes[:m]), root_from_leaf_hashes(hashes)
    proof = consistency_proof(hashes, m, n)
    verify_consistency(m, n, old, new, proof)
    if m < n:
        with pytest.raises(ProofError):
            verify_consistency(m, n, leaf_hash(b"forged"), new, proof)
