"""Deterministic, offline generator of valid certlife exports for tests and benchmarks.

``generate(DIR, certificates=N, seed=S)`` writes the NORMATIVE export
(``log.jsonl``, ``checkpoints/<N>``, ``trust.json``) of N certificates'
lifecycles, plus the TEST-ONLY keys ``fixture-signing-key.pem`` (the record key
that would sign the next record) and ``fixture-note-key.pem`` (the checkpoint
note key) and a ``README.txt`` saying so. Same arguments, same bytes: keys
derive from the seed, times from a fixed calendar (2020-01-01 to 2026-01-01)
and seeded random offsets; no clock, no uuid4.

Trust convention: ``trust.json`` describes the record keys as a verifier
knows them after replaying the whole log. Without a rotation it lists record
key 0 with ``validUntilIndex: null``. With a rotation at index ``r`` (runs of
at least 100 certificates) it lists key 0 with ``validUntilIndex: r + 1`` and
key 1 with ``validFromIndex: r + 1`` — exactly what ``certlife.contracts.trust.KeyRing``
derives from key 0 alone and the rotation record; a verifier still checks the
rotation record (both signatures) like any other.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.errors import ContractError
from certlife.contracts.keys import key_id, public_raw
from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.trust import TrustedKey, TrustFile
from certlife.domain.errors import CertlifeError
from certlife.services.demo.fixturegen import keys
from certlife.services.demo.fixturegen.plan import Planner
from certlife.services.demo.fixturegen.signing import RecordStream, SigningError
from certlife.services.infra.fileio import write_file_atomic
from certlife.services.partner.export import ExportWriter

__all__ = ["DEFAULT_ORIGIN", "FixtureError", "FixtureSummary", "SigningError", "default_workers", "generate"]

DEFAULT_ORIGIN = "certlife.example/log"
SIGNING_KEY_FILE = "fixture-signing-key.pem"
NOTE_KEY_FILE = "fixture-note-key.pem"
#: Below this many certificates, signing in worker processes costs more than it saves.
INLINE_BELOW = 10_000

#: ``progress(certificates_issued, records_written)``, called after every chunk of records.
Progress = Callable[[int, int], None]


class FixtureError(CertlifeError, code="fixture"):
    """Arguments the generator cannot work with (one line)."""


@dataclass(frozen=True)
class FixtureSummary:
    """What ``generate`` wrote."""

    directory: Path
    certificates: int
    records: int
    checkpoints: int
    key_rotations: int
    root_hash: str  # hex of the Merkle root at the final size
    record_key_ids: tuple[str, ...]  # in the order they sign
    note_key: str  # C2SP verifier key of the checkpoint note key
    events: dict[str, int] = field(default_factory=dict)


def default_workers(certificates: int) -> int:
    """Worker processes to use: none for small runs, else one per usable CPU."""
    if certificates < INLINE_BELOW:
        return 0
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check(certificates: int, checkpoint_every: int, origin: str, workers: int | None) -> None:
    for name, value in (("certificates", certificates), ("checkpoint_every", checkpoint_every)):
        if type(value) is not int or value < 1:
            raise FixtureError(f"{name} must be a positive integer, not {value!r}")
    if certificates > 10_000_000:
        raise FixtureError("certificates must be at most 10,000,000")
    if workers is not None and (type(workers) is not int or workers < 0):
        raise FixtureError(f"workers must be a non-negative integer, not {workers!r}")
    if not isinstance(origin, str) or not origin or any(c.isspace() or c == "+" for c in origin):
        raise FixtureError(f"origin {origin!r} must be non-empty, without spaces or '+'")


def generate(
    out_dir: str | Path,
    certificates: int,
    seed: int,
    checkpoint_every: int = 1000,
    origin: str = DEFAULT_ORIGIN,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
) -> FixtureSummary:
    """Write a valid, deterministic export of ``certificates`` lifecycles to ``out_dir``.

    Checkpoints are signed at every multiple of ``checkpoint_every`` and at the
    final size. ``workers`` (default: ``default_workers``) never changes the
    bytes written; with workers, call it under ``if __name__ == "__main__":``
    as ``multiprocessing`` (spawn) requires. Raises ``FixtureError`` for bad
    arguments, ``SigningError`` if a signing worker fails and
    ``certlife.services.partner.export.ExportError`` when the directory cannot be written.
    """
    _check(certificates, checkpoint_every, origin, workers)
    run = keys.run_key(seed)
    record_keys, note_private = keys.record_keys(run), keys.note_key(run)
    try:
        note = NoteSigner(origin, note_private)
    except ContractError as exc:
        raise FixtureError(f"origin {origin!r}: {exc}") from None
    planner, frontier, checkpoints = Planner(certificates, run), MerkleFrontier(), 0
    out = Path(out_dir)
    count = default_workers(certificates) if workers is None else workers
    with ExportWriter(out) as writer, RecordStream(run, origin, count) as stream:
        for batch in stream.batches(planner.steps()):
            for record in batch:
                writer.append(record)
                frontier.append(leaf_hash(record))
                if frontier.size % checkpoint_every == 0:
                    writer.write_checkpoint(frontier.size, _checkpoint(origin, frontier, note))
                    checkpoints += 1
            if progress is not None:
                progress(planner.issued, frontier.size)
        if frontier.size % checkpoint_every:
            writer.write_checkpoint(frontier.size, _checkpoint(origin, frontier, note))
            checkpoints += 1
        rotated = planner.rotation_index is not None
        used = record_keys[: 2 if rotated else 1]
        writer.write_trust(_trust(origin, used, planner.rotation_index, note))
        _write_keys(out, used[-1], note_private, f"certificates={certificates} seed={seed} origin={origin}")
    return FixtureSummary(
        directory=out,
        certificates=certificates,
        records=frontier.size,
        checkpoints=checkpoints,
        key_rotations=int(rotated),
        root_hash=frontier.root().hex(),
        record_key_ids=tuple(key_id(public_raw(k)) for k in used),
        note_key=note.verifier_key(),
        events={str(event): number for event, number in sorted(planner.events.items())},
    )


def _checkpoint(origin: str, frontier: MerkleFrontier, note: NoteSigner) -> str:
    return sign_checkpoint(Checkpoint(origin, frontier.size, frontier.root()), note)


def _trust(origin: str, used: list[Ed25519PrivateKey], rotation: int | None, note: NoteSigner) -> TrustFile:
    raws = [public_raw(k) for k in used]
    record: tuple[TrustedKey, ...]
    if rotation is None:
        record = (TrustedKey(key_id(raws[0]), raws[0]),)
    else:
        record = (
            TrustedKey(key_id(raws[0]), raws[0], 0, rotation + 1),
            TrustedKey(key_id(raws[1]), raws[1], rotation + 1),
        )
    return TrustFile(origin, record, (note.verifier_key(),))


README = """TEST-ONLY certlife fixture export ({args}).

fixture-signing-key.pem (the record key that would sign the next record) and
fixture-note-key.pem (the checkpoint note key) are TEST-ONLY private keys,
unencrypted, derived from the seed: anyone who knows the seed can recreate
them. Never use these keys, or trust this log, outside tests.
"""


def _write_keys(out: Path, record_key: Ed25519PrivateKey, note_key: Ed25519PrivateKey, args: str) -> None:
    write_file_atomic(out / SIGNING_KEY_FILE, keys.private_pem(record_key), mode=0o600)
    write_file_atomic(out / NOTE_KEY_FILE, keys.private_pem(note_key), mode=0o600)
    write_file_atomic(out / "README.txt", README.format(args=args).encode())
