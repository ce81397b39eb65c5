"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and a compact frontier (SHA-256).

Leaf hash = SHA-256(0x00 ‖ data), interior node = SHA-256(0x01 ‖ left ‖ right),
empty tree = SHA-256(""). Proof generation follows RFC 9162 §2.1.3.1 and
§2.1.4.1 (one algorithm over a subtree-hash callback, see :func:`inclusion_path`);
verification follows §2.1.3.2 and §2.1.4.2 with certlife's own
strict policy (contracts/LOG.md §8): hashes must be 32 bytes, ``0 < old_size
<= new_size``, equal sizes need an empty proof and equal roots, and a proof
with any extra, missing or altered element fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Sequence
from itertools import islice, takewhile
from typing import Any

from certlife.contracts.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
#: Leaf hashes :meth:`MerkleFrontier.extend` takes in at a time (bounds its memory on a long iterable).
EXTEND_BATCH = 4096


#: SHA-256 states after the leaf and the node prefix: a copy of one is cheaper than a new
#: hash object (OpenSSL 3 looks the digest up again for each) and than joining the prefix on.
_LEAF_STATE = _sha256(b"\x00")
_NODE_STATE = _sha256(b"\x01")


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 ‖ data)."""
    state = _LEAF_STATE.copy()
    state.update(data)
    return state.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 ‖ left ‖ right)."""
    state = _NODE_STATE.copy()
    state.update(left)
    state.update(right)
    return state.digest()


class MerkleFrontier:
    """The compact range [0, size): one subtree root per set bit of ``size``.

    ``append`` is amortised O(1), ``root`` O(log n); the frontier is all a log
    writer needs to keep to extend the tree and sign new checkpoints.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []  # largest (leftmost) subtree first

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Append a leaf *hash* (see :func:`leaf_hash`) as the next leaf."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash must be 32 bytes")
        self._push([leaf])

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf hashes in order, as :meth:`append` does one by one.

        Leaves go in batches of :data:`EXTEND_BATCH`, each hashed a tree level
        at a time (:meth:`_push`). A leaf that is not 32 bytes raises
        ValueError once the leaves before it are in.
        """
        items = iter(leaves)
        while batch := list(islice(items, EXTEND_BATCH)):
            good = batch
            if set(map(len, batch)) != {HASH_SIZE}:
                good = list(takewhile(lambda h: len(h) == HASH_SIZE, batch))
            self._push(good)
            if good is not batch:
                raise ValueError("a leaf hash must be 32 bytes")

    def _push(self, nodes: list[bytes]) -> None:
        """Append leaf hashes, level by level: each level's pairs hashed in one pass.

        At level ``k`` the new nodes start right after the first ``size >> k``
        nodes of that level; when that count is odd the frontier's node of
        level ``k`` is their left sibling and joins them. Pairs become the
        next level's nodes; an odd last node is the new frontier's node of level ``k``.
        """
        hashes, size, count = self._hashes, self._size, len(nodes)
        kept: list[bytes] = []  # the new frontier's nodes below the untouched ones, lowest level first
        level = 0
        while nodes:
            if size >> level & 1:
                nodes.insert(0, hashes.pop())
            if len(nodes) & 1:
                kept.append(nodes.pop())
            nodes = list(map(node_hash, nodes[::2], nodes[1::2]))
            level += 1
        hashes.extend(reversed(kept))
        self._size = size + count

    def root(self) -> bytes:
        """Return the Merkle tree hash of the leaves appended so far."""
        if not self._hashes:
            return EMPTY_ROOT
        h = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> MerkleFrontier:
        """Return an independent copy."""
        other = MerkleFrontier()
        other._size, other._hashes = self._size, list(self._hashes)
        return other

    def to_json(self) -> dict[str, Any]:
        """Return ``{"size": n, "hashes": [base64, ...]}`` for persistence."""
        return {"size": self._size, "hashes": [base64.b64encode(h).decode() for h in self._hashes]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MerkleFrontier:
        """Rebuild a frontier from :meth:`to_json` output, checking its shape."""
        size, encoded = data.get("size"), data.get("hashes")
        if type(size) is not int or size < 0 or not isinstance(encoded, list):
            raise ValueError("frontier needs a non-negative int size and a hash list")
        if len(encoded) != size.bit_count():
            raise ValueError(f"frontier of size {size} needs {size.bit_count()} hashes")
        try:
            hashes = [base64.b64decode(h, validate=True) for h in encoded]
        except (binascii.Error, TypeError, ValueError):
            raise ValueError("frontier hash is not base64") from None
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError("frontier hashes must be 32 bytes")
        frontier = cls()
        frontier._size, frontier._hashes = size, hashes
        return frontier


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash over ``hashes`` (leaf hashes, in order)."""
    frontier = MerkleFrontier()
    frontier.extend(hashes)
    return frontier.root()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    return root_from_leaf_hashes(hashes[lo:hi])


#: ``subtree(lo, hi)`` returns MTH(D[lo:hi]); the proof algorithms below only ask for ranges whose
#: ``lo`` is a multiple of the smallest power of two >= ``hi - lo`` (left-aligned subtrees and right edges).
SubtreeHash = Callable[[int, int], bytes]


def inclusion_path(subtree: SubtreeHash, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 audit path of leaf ``index`` in a tree of ``size``, hashes from ``subtree``.

    The one proof algorithm of certlife: :func:`inclusion_proof` serves it from a list
    of leaf hashes, ``contracts.tiles.TiledHashes`` from tlog-tiles.
    """
    if not 0 <= index < size:
        raise ValueError(f"need 0 <= index ({index}) < size ({size})")
    proof: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo, m = lo + k, m - k
    proof.reverse()
    return proof


def consistency_path(subtree: SubtreeHash, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof from ``old_size`` to ``new_size``, hashes from ``subtree``."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"need 0 < old ({old_size}) <= new ({new_size})")
    proof: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(subtree(lo, hi))
    proof.reverse()
    return proof


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Return the RFC 9162 audit path of leaf ``index`` in the tree of ``size`` leaves."""
    if not 0 <= index < size <= len(leaf_hashes):
        raise ValueError(f"need 0 <= index ({index}) < size ({size}) <= {len(leaf_hashes)}")
    return inclusion_path(lambda lo, hi: _mth(leaf_hashes, lo, hi), index, size)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """Return the RFC 9162 consistency proof from ``old_size`` to ``new_size``."""
    if not 0 < old_size <= new_size <= len(leaf_hashes):
        raise ValueError(f"need 0 < old ({old_size}) <= new ({new_size}) <= {len(leaf_hashes)}")
    return consistency_path(lambda lo, hi: _mth(leaf_hashes, lo, hi), old_size, new_size)


def _check_hashes(what: str, *hashes: bytes) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise ProofError(f"{what}: hash of {len(h)} bytes, expected 32")


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree ``root`` of ``size`` leaves."""
    code = "inclusion-proof"
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below tree size {size}", code=code)
    _check_hashes("inclusion proof", leaf_hash, root, *proof)
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long", code=code)
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short", code=code)
    if r != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root", code=code)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``old_root`` of ``old_size`` is a prefix of ``new_root``."""
    code = "consistency-proof"
    if not 0 < old_size <= new_size:
        raise ProofError(f"need 0 < old size ({old_size}) <= new size ({new_size})", code=code)
    if old_size == new_size:  # checked before hash lengths, as transparency-dev does
        if proof:
            raise ProofError("proof between equal sizes must be empty", code=code)
        if old_root != new_root:
            raise ProofError(f"different roots for the same size {old_size}", code=code)
        return
    _check_hashes("consistency proof", old_root, new_root, *proof)
    if not proof:
        raise ProofError("empty consistency proof between different sizes", code=code)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # old tree is a complete subtree: its root is implied
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long", code=code)
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short", code=code)
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the old root ({old_size})", code=code)
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the new root ({new_size})", code=code)
