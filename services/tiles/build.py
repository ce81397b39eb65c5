"""Build or extend a tiles directory from an export directory (``certctl tiles build``).

Nothing is written until the export is known good: a first pass hashes the
records of the export's newest checkpoint and refuses the export unless they
hash to its root (and, when the tiles directory already holds a log, unless
the export's first records hash to that log's root at the directory's size);
the second pass appends only the records the directory does not hold yet,
then publishes the checkpoint. Rebuilding from scratch gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from certlife.contracts.errors import ContractError
from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.notes import Checkpoint, NoteVerifier, note_signatures, verify_checkpoint
from certlife.contracts.tiles import MAX_ENTRY_BYTES
from certlife.domain.errors import CertlifeError
from certlife.services.partner.export import TRUST_FILE, read_checkpoints, read_log_lines, read_trust
from certlife.services.tiles.writer import TileWriter

Progress = Callable[[str, int, int], None]  # (phase, done, total)
_BATCH = 4096


class TilesBuildError(CertlifeError, code="tiles-build"):
    """An export that cannot be published as tiles, or a tiles directory of another log (one line)."""


@dataclass(frozen=True)
class BuildResult:
    """What a build did."""

    size: int  # the published checkpoint's tree size
    appended: int  # records written this time
    signature_checked: bool  # the checkpoint's signature was verified with the export's trust.json


def _newest_checkpoint(export: Path) -> tuple[str, Checkpoint, bool]:
    found = read_checkpoints(export)
    if not found:
        raise TilesBuildError(f"{export}: the export has no checkpoint to publish")
    named, note = found[-1]
    try:
        if (export / TRUST_FILE).is_file():
            trust = read_trust(export)
            verifiers = [NoteVerifier.from_string(key) for key in trust.note_keys]
            checkpoint, checked = verify_checkpoint(note, verifiers, trust.origin), True
        else:
            checkpoint, checked = Checkpoint.parse(note_signatures(note)[0]), False
    except ContractError as exc:
        raise TilesBuildError(f"{export}: checkpoints/{named}: {exc}") from None
    if checkpoint.size != named:
        raise TilesBuildError(f"{export}: checkpoints/{named} holds a checkpoint of size {checkpoint.size}")
    return note, checkpoint, checked


def _check_export(export: Path, checkpoint: Checkpoint, held: int, progress: Progress) -> bytes:
    """Hash the checkpoint's records; return the root of the first ``held`` of them."""
    size, frontier = checkpoint.size, MerkleFrontier()
    held_root = frontier.root() if held == 0 else None
    for number, record in read_log_lines(export):
        index = number - 1
        if index >= size:
            break
        if len(record) > MAX_ENTRY_BYTES:
            raise TilesBuildError(
                f"{export}: record {index} is {len(record)} bytes; a tlog-tiles entry is at most {MAX_ENTRY_BYTES}"
            )
        frontier.append(leaf_hash(record))
        if frontier.size == held:
            held_root = frontier.root()
        if number % _BATCH == 0:
            progress("checking", frontier.size, size)
    progress("checking", frontier.size, size)
    if frontier.size < size:
        raise TilesBuildError(f"{export}: the log holds {frontier.size} records, its checkpoint {size}")
    if frontier.root() != checkpoint.root_hash:
        raise TilesBuildError(f"{export}: the log does not hash to the root of its checkpoint (size {size})")
    return held_root or b""


def build_tiles(export: Path, out: Path, progress: Progress | None = None) -> BuildResult:
    """Publish ``export``'s log up to its newest checkpoint as tiles in ``out``."""
    report: Progress = progress or (lambda phase, done, total: None)
    note, checkpoint, checked = _newest_checkpoint(export)
    writer = TileWriter(out)
    size = checkpoint.size
    if writer.published > size:
        raise TilesBuildError(
            f"{out}: already holds a checkpoint of size {writer.published}, newer than {size}"
        )
    held = min(writer.size, size)
    held_root = _check_export(export, checkpoint, held, report)
    if writer.hashes(held).root() != held_root:
        raise TilesBuildError(f"{out}: holds another log (its first {held} entries differ from the export's)")
    start, batch = writer.size, []
    for number, record in read_log_lines(export):
        index = number - 1
        if index >= size:
            break
        if index < start:
            continue
        batch.append(record)
        if len(batch) == _BATCH:
            writer.append(batch)
            batch = []
            report("writing", writer.size - start, size - start)
    writer.append(batch)
    report("writing", max(writer.size - start, 0), max(size - start, 0))
    writer.publish(note)
    return BuildResult(size, max(size - start, 0), checked)
