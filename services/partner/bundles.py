"""Build a proof bundle for one certificate from an export directory (``certctl bundle``).

The bundle proves the certificate's latest record under the export's newest
checkpoint. The builder reads the whole log once (it needs every leaf hash),
checks that the log hashes to that checkpoint's root, and refuses when the
certificate's latest record is past the newest checkpoint: a bundle showing an
older record would state an outdated status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from certlife.contracts.bundle import ProofBundle, build_bundle
from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.notes import Checkpoint, parse_note
from certlife.contracts.records import parse_record
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


def bundle_from_export(directory: str | Path, number: str, known_size: int | None = None) -> ProofBundle:
    """Build the proof bundle of certificate ``number``'s latest record.

    ``known_size`` adds a consistency proof from that (older) tree size.
    Raises BundleError, or ExportError for an unreadable export.
    """
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
    if known_size is not None and not 0 < known_size <= size:
        raise BundleError(f"--known-size must be between 1 and the checkpoint size {size}")
    return build_bundle(
        origin=checkpoint.origin,
        leaf_hashes=scan.leaves,
        checkpoint=note,
        tree_size=size,
        record=scan.latest,
        key_records=[(i, raw) for i, raw in scan.key_records if i < size],
        known_size=known_size,
    )


__all__ = ["BundleError", "ExportError", "bundle_from_export"]
