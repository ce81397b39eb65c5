"""Build a proof bundle or a tlog-proof for one certificate from an export (``certctl bundle``).

Either proves the certificate's latest record under the export's newest
checkpoint (as the export holds it: with the cosignatures it has). The builder
reads the whole log once (it needs every leaf hash), checks that the log hashes
to that checkpoint's root, and refuses when the certificate's latest record is
past the newest checkpoint: a proof showing an older record would state an
outdated status. A tlog-proof (contracts/BUNDLE.md §4) carries no key records,
so it is refused for a record whose key a compromise marker in the tree
distrusts, and a key introduced by a rotation in the log is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from certlife.contracts.bundle import ProofBundle, build_bundle
from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import MerkleFrontier, inclusion_proof, leaf_hash
from certlife.contracts.notes import Checkpoint, parse_note
from certlife.contracts.records import Record, parse_record
from certlife.contracts.tlogproof import TlogProof
from certlife.domain.errors import CertlifeError
from certlife.services.partner.export import ExportError, read_checkpoints, read_log_lines


class BundleError(CertlifeError, code="bundle"):
    """A bundle that cannot be built from this export (one line)."""


@dataclass
class _Scan:
    leaves: list[bytes] = field(default_factory=list)
    latest: tuple[int, bytes] | None = None
    key_records: list[tuple[int, bytes]] = field(default_factory=list)


def _newest_checkpoint(directory: str | Path) -> tuple[Checkpoint, str]:
    found = read_checkpoints(directory)
    if not found:
        raise BundleError(f"{directory}: the export has no checkpoint")
    claimed, note = found[-1]
    try:
        checkpoint = Checkpoint.parse(parse_note(note)[0])
    except ContractError as exc:
        raise BundleError(f"{directory}: checkpoint {claimed}: {exc}") from None
    if checkpoint.size != claimed:
        raise BundleError(f"{directory}: checkpoint file {claimed} holds tree size {checkpoint.size}")
    return checkpoint, note


def _scan(directory: str | Path, number: str) -> _Scan:
    needle = b'"number":' + json.dumps(number, ensure_ascii=False).encode()
    scan = _Scan()
    for line_number, raw in read_log_lines(directory):
        index = line_number - 1
        scan.leaves.append(leaf_hash(raw))
        if needle in raw or b'"kind":"key"' in raw:
            try:
                record = parse_record(raw)
            except ContractError as exc:
                raise BundleError(f"{directory}: line {line_number}: {exc}") from None
            if record.index != index:
                raise BundleError(f"{directory}: line {line_number} holds index {record.index}")
            if record.number == number:
                scan.latest = (index, raw)
            elif record.kind == "key":
                scan.key_records.append((index, raw))
    return scan


def _anchored(directory: str | Path, number: str) -> tuple[Checkpoint, str, _Scan, tuple[int, bytes]]:
    """The newest checkpoint (parsed, note), the scan, and ``number``'s latest record under it."""
    checkpoint, note = _newest_checkpoint(directory)
    size = checkpoint.size
    scan = _scan(directory, number)
    if len(scan.leaves) < size:
        raise BundleError(f"{directory}: log of {len(scan.leaves)} records, checkpoint of size {size}")
    frontier = MerkleFrontier()
    for leaf in scan.leaves[:size]:
        frontier.append(leaf)
    if frontier.root() != checkpoint.root_hash:
        raise BundleError(f"{directory}: the log does not hash to its checkpoint of size {size}")
    if scan.latest is None:
        raise BundleError(f"certificate {number} is not in the log")
    if scan.latest[0] >= size:
        raise BundleError(
            f"the latest record of {number} (index {scan.latest[0]}) is past the newest "
            f"checkpoint (size {size}); export again after the next checkpoint"
        )
    return checkpoint, note, scan, scan.latest


def bundle_from_export(directory: str | Path, number: str, known_size: int | None = None) -> ProofBundle:
    """Build the proof bundle of certificate ``number``'s latest record.

    ``known_size`` adds a consistency proof from that (older) tree size.
    Raises BundleError, or ExportError for an unreadable export.
    """
    checkpoint, note, scan, latest = _anchored(directory, number)
    size = checkpoint.size
    if known_size is not None and not 0 < known_size <= size:
        raise BundleError(f"--known-size must be between 1 and the checkpoint size {size}")
    return build_bundle(
        origin=checkpoint.origin,
        leaf_hashes=scan.leaves,
        checkpoint=note,
        tree_size=size,
        record=latest,
        key_records=[(i, raw) for i, raw in scan.key_records if i < size],
        known_size=known_size,
    )


def _key_notes(record: Record, key_records: list[tuple[int, bytes]]) -> list[str]:
    # What a tlog-proof cannot carry about the record's key: refuse a compromise, report a rotation.
    notes = []
    for index, raw in key_records:
        key = parse_record(raw)
        if key.action == "compromise" and key.subject_key_id == record.key_id:
            start = key.compromised_from_index
            if start is not None and start <= record.index:
                raise BundleError(
                    f"the record's key {record.key_id} is declared compromised from index {start} "
                    f"(key record {index}); a tlog-proof cannot carry that: use --format bundle"
                )
        elif key.action == "rotate" and key.new_key_id == record.key_id:
            notes.append(
                f"the record's key {record.key_id} was introduced by the rotation at index {index}; "
                "a tlog-proof carries no key records, so its verifier's trust file must list that key "
                "(or use --format bundle)"
            )
    return notes


def tlog_proof_from_export(directory: str | Path, number: str) -> tuple[TlogProof, list[str]]:
    """Build the tlog-proof of certificate ``number``'s latest record, and notes for the user.

    The proof's ``extra`` line holds the record's exact bytes (BUNDLE.md §4).
    Raises BundleError (also for a record whose key a compromise marker in
    the tree distrusts), or ExportError for an unreadable export.
    """
    checkpoint, note, scan, (index, raw) = _anchored(directory, number)
    size = checkpoint.size
    notes = _key_notes(parse_record(raw), [(i, k) for i, k in scan.key_records if i < size])
    proof = TlogProof(index, tuple(inclusion_proof(scan.leaves, index, size)), note, extra=raw)
    return proof, notes


__all__ = ["BundleError", "ExportError", "bundle_from_export", "tlog_proof_from_export"]
