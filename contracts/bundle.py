"""Proof bundles (v1): one certificate's latest record, provable offline in O(log n).

A bundle holds the record, its Merkle inclusion proof in the tree of a signed
checkpoint, the key records (rotations, compromise markers) below that tree
size with their inclusion proofs, and optionally a consistency proof from an
older tree size the verifier already knows. The format is described in
``contracts/BUNDLE.md``; :func:`certlife.contracts.verification.proof.verify_bundle`
checks it step by step.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.keys import b64decode_strict
from certlife.contracts.merkle import consistency_proof, inclusion_proof
from certlife.contracts.records import MAX_RECORD_BYTES
from certlife.contracts.verification.failures import fail

BUNDLE_VERSION = 1
BUNDLE_KIND = "certlife-proof-bundle"
MAX_BUNDLE_SIZE = 16 << 20
_MEMBERS = {"v", "kind", "origin", "treeSize", "checkpoint", "record", "keyRecords", "consistency"}


def _bad(why: str) -> Exception:
    return fail("bundle-format", f"malformed bundle: {why}")


def _int(value: Any, what: str, minimum: int = 0) -> int:
    if type(value) is not int or value < minimum:
        raise _bad(f"{what} must be an integer >= {minimum}")
    return value


def max_proof_length(tree_size: int, *, consistency: bool = False) -> int:
    """Most hashes a proof in a tree of ``tree_size`` leaves can have (RFC 9162 §2.1.3-2.1.4).

    An inclusion proof has at most ``ceil(log2(tree_size))`` hashes, a
    consistency proof one more.
    """
    depth = max(tree_size - 1, 0).bit_length()
    return depth + 1 if consistency else depth


def _hashes(value: Any, what: str, most: int) -> tuple[bytes, ...]:
    if type(value) is not list:
        raise _bad(f"{what} must be an array of base64 hashes")
    if len(value) > most:
        raise _bad(f"{what} has {len(value)} hashes; a proof in this tree has at most {most}")
    try:
        hashes = tuple(b64decode_strict(h) for h in value)
    except (ValueError, TypeError):
        raise _bad(f"{what} holds a value that is not canonical base64") from None
    if any(len(h) != 32 for h in hashes):
        raise _bad(f"{what} holds a hash that is not 32 bytes")
    return hashes


def _b64(hashes: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@dataclass(frozen=True)
class IncludedRecord:
    """A record's exact bytes, its index and its inclusion proof (audit path)."""

    index: int
    record: bytes
    proof: tuple[bytes, ...]

    @classmethod
    def from_json(cls, data: Any, what: str, tree_size: int) -> IncludedRecord:
        """Parse ``{"index", "record", "proof"}`` of a record in the tree of ``tree_size`` leaves.

        A record over ``MAX_RECORD_BYTES`` fails ``record-too-large``; a proof
        longer than :func:`max_proof_length` fails ``bundle-format``.
        """
        if type(data) is not dict or data.keys() != {"index", "record", "proof"}:
            raise _bad(f"{what} needs exactly index, record and proof")
        if type(data["record"]) is not str:
            raise _bad(f"{what}.record must be the record's JSON text")
        index = _int(data["index"], f"{what}.index")
        text: str = data["record"]
        if len(text) > MAX_RECORD_BYTES or len(raw := text.encode("utf-8")) > MAX_RECORD_BYTES:
            raise fail(
                "record-too-large",
                f"{what}.record is longer than {MAX_RECORD_BYTES} bytes (the record limit)",
                index=index,
            )
        return cls(index, raw, _hashes(data["proof"], f"{what}.proof", max_proof_length(tree_size)))

    def to_json(self) -> dict[str, Any]:
        """Return ``{"index", "record", "proof"}``."""
        return {"index": self.index, "record": self.record.decode("utf-8"), "proof": _b64(self.proof)}


@dataclass(frozen=True)
class ConsistencyProof:
    """A consistency proof from an older tree size to the bundle's tree size."""

    from_size: int
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """Return ``{"fromSize", "proof"}``."""
        return {"fromSize": self.from_size, "proof": _b64(self.proof)}


@dataclass(frozen=True)
class ProofBundle:
    """A parsed proof bundle (nothing in it verified yet)."""

    origin: str
    tree_size: int
    checkpoint: str
    record: IncludedRecord
    key_records: tuple[IncludedRecord, ...] = ()
    consistency: ConsistencyProof | None = None

    @classmethod
    def parse(cls, data: bytes) -> ProofBundle:
        """Parse bundle bytes (JSON); raise VerificationError ``bundle-format``.

        Sizes are bounded before anything is decoded: the file (``MAX_BUNDLE_SIZE``),
        every proof (:func:`max_proof_length` of ``treeSize``), the number of key
        records (at most ``treeSize``) and each record (``MAX_RECORD_BYTES``,
        failure ``record-too-large``).
        """
        if len(data) > MAX_BUNDLE_SIZE:
            raise _bad(f"larger than {MAX_BUNDLE_SIZE} bytes")
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise _bad(f"not JSON: {exc}") from None
        if type(obj) is not dict or obj.keys() != _MEMBERS:
            raise _bad(f"needs exactly the members {sorted(_MEMBERS)}")
        if obj["v"] != BUNDLE_VERSION or type(obj["v"]) is not int or obj["kind"] != BUNDLE_KIND:
            raise _bad(f"not a v{BUNDLE_VERSION} {BUNDLE_KIND}")
        if type(obj["origin"]) is not str or type(obj["checkpoint"]) is not str:
            raise _bad("origin and checkpoint must be strings")
        size = _int(obj["treeSize"], "treeSize", 1)
        keys = obj["keyRecords"]
        if type(keys) is not list:
            raise _bad("keyRecords must be an array")
        if len(keys) > size:
            raise _bad(f"keyRecords has {len(keys)} entries, more than the tree size {size}")
        consistency = None
        if obj["consistency"] is not None:
            c = obj["consistency"]
            if type(c) is not dict or c.keys() != {"fromSize", "proof"}:
                raise _bad("consistency needs exactly fromSize and proof")
            if _int(c["fromSize"], "consistency.fromSize", 1) >= size:
                raise _bad(f"consistency.fromSize must be below the tree size {size}")
            most = max_proof_length(size, consistency=True)
            consistency = ConsistencyProof(c["fromSize"], _hashes(c["proof"], "consistency.proof", most))
        return cls(
            origin=obj["origin"],
            tree_size=size,
            checkpoint=obj["checkpoint"],
            record=IncludedRecord.from_json(obj["record"], "record", size),
            key_records=tuple(
                IncludedRecord.from_json(k, f"keyRecords[{i}]", size) for i, k in enumerate(keys)
            ),
            consistency=consistency,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the bundle's JSON object."""
        return {
            "v": BUNDLE_VERSION,
            "kind": BUNDLE_KIND,
            "origin": self.origin,
            "treeSize": self.tree_size,
            "checkpoint": self.checkpoint,
            "record": self.record.to_json(),
            "keyRecords": [k.to_json() for k in self.key_records],
            "consistency": None if self.consistency is None else self.consistency.to_json(),
        }

    def to_bytes(self) -> bytes:
        """Return the bundle file: canonical JSON and a final newline."""
        return canonical_bytes(self.to_json()) + b"\n"


def build_bundle(
    *,
    origin: str,
    leaf_hashes: Sequence[bytes],
    checkpoint: str,
    tree_size: int,
    record: tuple[int, bytes],
    key_records: Sequence[tuple[int, bytes]] = (),
    known_size: int | None = None,
) -> ProofBundle:
    """Build a bundle from the log's leaf hashes (at least ``tree_size`` of them).

    ``record`` and ``key_records`` are ``(index, bytes)`` below ``tree_size``;
    ``known_size`` adds a consistency proof from that older tree size.
    """

    def included(index: int, raw: bytes) -> IncludedRecord:
        return IncludedRecord(index, raw, tuple(inclusion_proof(leaf_hashes, index, tree_size)))

    consistency = None
    if known_size is not None and 0 < known_size < tree_size:
        consistency = ConsistencyProof(
            known_size, tuple(consistency_proof(leaf_hashes, known_size, tree_size))
        )
    return ProofBundle(
        origin=origin,
        tree_size=tree_size,
        checkpoint=checkpoint,
        record=included(*record),
        key_records=tuple(included(i, raw) for i, raw in sorted(key_records)),
        consistency=consistency,
    )
