"""Evidence for an answer: records with their RFC 9162 inclusion proofs in a verified checkpoint.

The entries have a proof bundle's form (BUNDLE.md: ``{"index", "record",
"proof"}``); with the checkpoint's signed note, a reader checks each against
the trust file without the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from certlife.contracts.bundle import IncludedRecord
from certlife.contracts.merkle import inclusion_proof
from certlife.contracts.verification.at_instant import ChainRecord
from certlife.contracts.verification.checkpoints import VerifiedCheckpoint


def inclusion_evidence(
    records: Sequence[tuple[int, bytes]], leaves: bytes, checkpoint: VerifiedCheckpoint | None
) -> dict[str, Any]:
    """Records with inclusion proofs in ``checkpoint`` (``{"treeSize", "checkpoint", "records"}``).

    Each entry is ``{"index", "record", "proof"}`` (as in a proof bundle,
    BUNDLE.md); ``proof`` is null for a record at or past the checkpoint's size.
    ``leaves`` are the log's leaf hashes (32 bytes each, at least the checkpoint's).
    """
    size = 0 if checkpoint is None else checkpoint.size
    anchored = any(index < size for index, _ in records)
    hashes = [leaves[at : at + 32] for at in range(0, 32 * size, 32)] if anchored else []
    entries = []
    for index, raw in records:
        if index < size:
            proof = tuple(inclusion_proof(hashes, index, size))
            entries.append(IncludedRecord(index, raw, proof).to_json())
        else:
            entries.append({"index": index, "record": raw.decode("utf-8"), "proof": None})
    return {
        "treeSize": None if checkpoint is None else checkpoint.size,
        "checkpoint": None if checkpoint is None else checkpoint.note,
        "records": entries,
    }


def chain_evidence(
    chain: Sequence[ChainRecord], leaves: bytes, checkpoint: VerifiedCheckpoint | None
) -> dict[str, Any]:
    """The chain's records with their inclusion proofs (:func:`inclusion_evidence`)."""
    return inclusion_evidence([(r.index, r.raw) for r in chain], leaves, checkpoint)
