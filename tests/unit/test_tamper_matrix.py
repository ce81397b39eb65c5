"""Tamper matrix over a fixtures export: each tampering fails with its own failure code.

The export comes from ``certlife.services.demo.fixtures.generate`` (120 certificates,
checkpoints every 50 records, one key rotation); each case copies it, alters
it the way an attacker or a broken pipeline would, and verifies it as
``certverify log`` does (``certlife.services.partner.export`` readers + ``verify_log``).
Forged records are signed with the export's own ``fixture-signing-key.pem``
(the key in force at the end of the log), so only the check under test fails.
"""

from __future__ import annotations

import base64
import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from certlife.contracts.canonical import canonical_bytes, parse_canonical
from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.records import (
    Record,
    RecordSigner,
    build_certificate_record,
    build_compromise_record,
    build_rotation_record,
    parse_record,
    record_hash,
    signing_input,
)
from certlife.contracts.trust import TrustFile
from certlife.contracts.verification import Failure, VerificationError, VerificationReport, verify_log
from certlife.services.demo.fixtures import generate
from certlife.services.partner.export import read_checkpoints, read_log_lines, read_trust

pytestmark = pytest.mark.unit

LATE = "2026-01-05T00:00:00Z"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid fixtures export: 120 certificates, a checkpoint every 50 records."""
    out = tmp_path_factory.mktemp("fixture") / "export"
    generate(out, certificates=120, seed=7, checkpoint_every=50, workers=0)
    return out


class Export:
    """A writable copy of the fixture export, with helpers to tamper with it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = (path / "log.jsonl").read_bytes().split(b"\n")[:-1]
        self.trust = read_trust(path)
        self.origin = self.trust.origin
        self.signer = RecordSigner(self._key("fixture-signing-key.pem"))
        self.note_signer = NoteSigner(self.origin, self._key("fixture-note-key.pem"))

    def _key(self, name: str) -> Ed25519PrivateKey:
        key = load_pem_private_key((self.path / name).read_bytes(), None)
        assert isinstance(key, Ed25519PrivateKey)
        return key

    @property
    def size(self) -> int:
        """Number of lines in log.jsonl."""
        return len(self.lines)

    def save(self) -> None:
        """Write the (altered) lines back."""
        (self.path / "log.jsonl").write_bytes(b"".join(line + b"\n" for line in self.lines))

    def latest(self, status: str | None = None) -> Record:
        """The newest record of the last certificate (with ``status``, if given) in the log."""
        latest: dict[str, Record] = {}
        for line in self.lines:
            record = parse_record(line)
            if record.number is not None:
                latest[record.number] = record
        return [r for r in latest.values() if status is None or r.status == status][-1]

    def forge(self, event: str, status: str, **over: Any) -> bytes:
        """A correctly chained next record of a valid certificate, signed (by default) validly."""
        last = self.latest("valid")
        args: dict[str, Any] = {
            "origin": self.origin,
            "index": self.size,
            "certificate": last.certificate,
            "event": event,
            "status": status,
            "seq": last.seq + 1,
            "prev": record_hash(last.raw),
            "reason": None,
            "effective_at": LATE,
            "recorded_at": LATE,
            "signer": self.signer,
        }
        return build_certificate_record(**(args | over))

    def resign(self, raw: bytes, **changes: Any) -> bytes:
        """``raw`` with members changed and a fresh, valid signature."""
        data = parse_canonical(raw) | changes
        data["sig"] = base64.b64encode(self.signer.sign(signing_input(data))).decode()
        return canonical_bytes(data)

    def note(
        self, size: int, *, signer: NoteSigner | None = None, origin: str = "", root: bytes = b""
    ) -> str:
        """A checkpoint note of the first ``size`` lines."""
        frontier = MerkleFrontier()
        for line in self.lines[:size]:
            frontier.append(leaf_hash(line))
        body = Checkpoint(origin or self.origin, size, root or frontier.root())
        return sign_checkpoint(body, signer or self.note_signer)

    def write_checkpoint(self, size: int, note: str) -> None:
        """Replace or add ``checkpoints/<size>``."""
        (self.path / "checkpoints" / str(size)).write_text(note)

    def drop_checkpoints_above(self, size: int) -> None:
        """Delete every checkpoint file of a larger tree size."""
        for file in (self.path / "checkpoints").iterdir():
            if int(file.name) > size:
                file.unlink()

    def verify(
        self, signatures: str = "all", trust: TrustFile | None = None, known: str | None = None
    ) -> VerificationReport:
        """Verify the export as ``certverify log`` does."""
        return verify_log(
            read_log_lines(self.path),
            read_checkpoints(self.path),
            trust or self.trust,
            signatures=signatures,
            known_checkpoint=known,
            chunk_size=64,
        )

    def failure(self, **kwargs: Any) -> Failure:
        """Verify, expecting a failure; return it."""
        with pytest.raises(VerificationError) as caught:
            self.verify(**kwargs)
        return caught.value.failure


@pytest.fixture
def export(pristine: Path, tmp_path: Path) -> Export:
    """A fresh copy of the fixture export."""
    return Export(Path(shutil.copytree(pristine, tmp_path / "export")))


def test_the_untouched_export_verifies_in_both_modes(export: Export) -> None:
    """Baseline: every record and checkpoint checked, nothing failed, nothing unanchored."""
    for mode in ("all", "checkpoints"):
        report = export.verify(signatures=mode)
        assert report.ok and report.records == export.size and report.unanchored == 0
        assert report.checks["checkpoint-root"] == len(read_checkpoints(export.path)) == 6
    assert export.verify().checks["signature"] == export.size


# --- the matrix: (mutation, expected failure code, expected index) ------------------------------


def _drop(e: Export) -> int:
    del e.lines[100]
    return 101


def _swap(e: Export) -> int:
    e.lines[100], e.lines[101] = e.lines[101], e.lines[100]
    return 101


def _flip_value_byte(e: Export) -> int:
    line = bytearray(e.lines[60])
    at = line.index(b'"holder":"') + len(b'"holder":"') + 2
    line[at] ^= 0x01  # a letter stays a harmless string character
    e.lines[60] = bytes(line)
    return 60


def _flip_structure_byte(e: Export) -> int:
    e.lines[60] = b"z" + e.lines[60][1:]  # "{" ^ 0x01
    return -1  # unparsable: no index


def _not_canonical(e: Export) -> int:
    e.lines[60] = e.lines[60].replace(b'":', b'" :', 1)
    return -1


def _equivocate(e: Export) -> int:
    last = e.lines[-1]
    e.lines.append(e.resign(last, reason="shown to one partner only"))
    return parse_record(last).index


def _truncate(e: Export) -> int:
    del e.lines[-10:]
    return e.size


def _unknown_key(e: Export) -> int:
    e.lines.append(e.forge("suspended", "suspended", signer=RecordSigner(Ed25519PrivateKey.generate())))
    return e.size - 1


def _retired_key(e: Export) -> int:
    incoming = RecordSigner(Ed25519PrivateKey.generate())
    rotation = build_rotation_record(
        origin=e.origin, index=e.size, outgoing=e.signer, incoming=incoming, recorded_at=LATE, reason=None
    )
    e.lines.append(rotation)
    e.lines.append(e.forge("suspended", "suspended"))  # still signed by the outgoing key
    return e.size - 1


def _compromise_marker(e: Export, start_offset: int = 0) -> bytes:
    return build_compromise_record(
        origin=e.origin,
        index=e.size,
        signer=e.signer,
        compromised_key_id=e.signer.key_id,
        compromised_from_index=e.size + start_offset,
        recorded_at=LATE,
        reason="key leaked",
    )


def _compromised_after(e: Export) -> int:
    e.lines.append(_compromise_marker(e))
    e.lines.append(e.forge("suspended", "suspended"))
    return e.size - 1


def _compromised_retroactively(e: Export) -> int:
    e.lines.append(_compromise_marker(e, start_offset=-5))
    return e.size - 6  # the first record at or after the compromise index


def _illegal_transition(e: Export) -> int:
    e.lines.append(e.forge("reinstated", "valid"))  # reinstating a valid certificate
    return e.size - 1


def _status_mismatch(e: Export) -> int:
    e.lines.append(e.forge("suspended", "revoked"))
    return e.size - 1


def _wrong_origin(e: Export) -> int:
    e.lines.append(e.forge("suspended", "suspended", origin="evil.example/log"))
    return e.size - 1


def _broken_chain(e: Export) -> int:
    e.lines.append(e.forge("suspended", "suspended", prev="00" * 32))
    return e.size - 1


def _array_as_event(e: Export) -> int:
    e.lines[60] = e.resign(e.lines[60], event=["suspended"])  # validly signed, not a record
    return -1  # a malformed record has no index


RECORD_CASES: dict[str, tuple[Callable[[Export], int], str]] = {
    "dropped record": (_drop, "index-gap"),
    "swapped records": (_swap, "index-gap"),
    "flipped byte in a value": (_flip_value_byte, "bad-signature"),
    "flipped byte in the structure": (_flip_structure_byte, "not-json"),
    "non-canonical whitespace": (_not_canonical, "not-canonical"),
    "validly signed array where the event name belongs": (_array_as_event, "record-format"),
    "equivocation": (_equivocate, "equivocation"),
    "log truncated below the latest checkpoint": (_truncate, "log-truncated"),
    "record signed by an unknown key": (_unknown_key, "unknown-key"),
    "retired key after its range": (_retired_key, "key-out-of-range"),
    "compromised key after the compromise index": (_compromised_after, "key-compromised"),
    "compromise marker naming earlier records": (_compromised_retroactively, "key-compromised"),
    "validly signed illegal transition": (_illegal_transition, "illegal-transition"),
    "status that the event does not give": (_status_mismatch, "status-mismatch"),
    "broken prev chain": (_broken_chain, "chain-prev"),
    "wrong origin": (_wrong_origin, "wrong-origin"),
}


@pytest.mark.parametrize("case", RECORD_CASES)
def test_record_tampering_fails_with_its_code(export: Export, case: str) -> None:
    """Each mutation of the log is caught by its own check, at the right index."""
    mutate, code = RECORD_CASES[case]
    index = mutate(export)
    export.save()
    failure = export.failure()
    assert failure.code == code, failure.describe()
    assert failure.index == (None if index < 0 else index), failure.describe()
    # Failures found after the fact (end of log, a later compromise marker) have no input position.
    after_the_fact = code == "log-truncated" or case == "compromise marker naming earlier records"
    assert (failure.position is None) == after_the_fact


def test_flipped_byte_fails_at_the_checkpoint_root_without_signatures(export: Export) -> None:
    """With --signatures checkpoints the same flip is caught by the signed root of its checkpoint."""
    tail = {parse_record(line).number: i for i, line in enumerate(export.lines) if b'"number"' in line}
    target = max(i for i in tail.values() if i < 250)  # no later record of it: no chain check fires
    line = bytearray(export.lines[target])
    line[line.index(b'"holder":"') + 12] ^= 0x01
    export.lines[target] = bytes(line)
    export.save()
    failure = export.failure(signatures="checkpoints")
    assert (failure.code, failure.check, failure.checkpoint) == ("root-mismatch", "checkpoint-root", 250)
    assert export.failure().code == "bad-signature"


def test_duplicate_line_is_accepted_and_reported(export: Export) -> None:
    """The same index with the same bytes (a redelivery) passes and is listed."""
    export.lines.insert(125, export.lines[119])
    export.save()
    report = export.verify()
    assert report.ok and report.records == export.size - 1 and report.inputs == export.size
    assert report.duplicates == [{"index": 119, "position": 126}]


def test_compromised_key_is_still_valid_before_the_marker(export: Export) -> None:
    """Records before the compromise index, and the marker itself, verify."""
    export.lines.append(_compromise_marker(export))
    export.save()
    report = export.verify()
    assert report.ok and report.checks["key-record"] == 2 and report.unanchored == 1


def test_compromise_in_the_trust_file(export: Export) -> None:
    """A key the trust file marks compromised from index 200 fails there, and not before."""
    keys = tuple(
        dataclasses.replace(k, compromised_from_index=200) if k.key_id == export.signer.key_id else k
        for k in export.trust.record_keys
    )
    trust = dataclasses.replace(export.trust, record_keys=keys)
    failure = export.failure(trust=trust)
    assert (failure.code, failure.index) == ("key-compromised", 200)
    del export.lines[200:]
    export.save()
    export.drop_checkpoints_above(200)
    assert export.verify(trust=trust).ok


def test_retired_key_boundary_in_the_fixture_trust_file(export: Export) -> None:
    """The fixture's first key is retired at the rotation; its last record is the rotation itself."""
    first = export.trust.record_keys[0]
    assert first.valid_until_index is not None
    assert parse_record(export.lines[first.valid_until_index - 1]).action == "rotate"
    keys = (
        dataclasses.replace(first, valid_until_index=first.valid_until_index - 1),
        *export.trust.record_keys[1:],
    )
    failure = export.failure(trust=dataclasses.replace(export.trust, record_keys=keys))
    assert (failure.code, failure.index) == ("key-out-of-range", first.valid_until_index - 1)


# --- checkpoints ----------------------------------------------------------------------------------


def test_checkpoint_rollback_in_the_export(export: Export) -> None:
    """The newest checkpoint file replaced by an older checkpoint."""
    older = (export.path / "checkpoints" / "250").read_text()
    export.write_checkpoint(export.size, older)
    failure = export.failure()
    assert (failure.code, failure.check, failure.checkpoint) == (
        "checkpoint-rollback",
        "checkpoint-consistency",
        export.size,
    )


def test_checkpoint_rollback_below_a_known_checkpoint(export: Export) -> None:
    """A source that went back to an older state than a checkpoint seen before."""
    known = (export.path / "checkpoints" / str(export.size)).read_text()
    del export.lines[250:]
    export.save()
    export.drop_checkpoints_above(250)
    assert export.verify().ok  # on its own the older log is fine
    failure = export.failure(known=known)
    assert (failure.code, failure.checkpoint) == ("checkpoint-rollback", 297)


def test_checkpoint_fork_against_a_known_checkpoint(export: Export) -> None:
    """A validly signed second root for a size already seen."""
    forked = export.note(export.size, root=bytes(32))
    failure = export.failure(known=forked)
    assert failure.code == "checkpoint-fork"


def test_checkpoint_signed_by_an_unknown_key_only(export: Export) -> None:
    """The note's only signature is by a key the trust file does not list."""
    stranger = NoteSigner(export.origin, Ed25519PrivateKey.generate())
    export.write_checkpoint(250, export.note(250, signer=stranger))
    failure = export.failure()
    assert (failure.code, failure.check, failure.checkpoint) == (
        "checkpoint-unverified",
        "checkpoint-signature",
        250,
    )


def test_checkpoint_with_a_bad_signature_by_the_known_key(export: Export) -> None:
    """Changing the signed body breaks the known key's signature."""
    note = (export.path / "checkpoints" / "250").read_text()
    export.write_checkpoint(250, note.replace("\n250\n", "\n251\n"))
    assert export.failure().code == "checkpoint-bad-signature"


def test_checkpoint_of_another_origin(export: Export) -> None:
    """Signed by the right key but for another log."""
    export.write_checkpoint(250, export.note(250, origin="other.example/log"))
    failure = export.failure()
    assert (failure.code, failure.check) == ("checkpoint-wrong-origin", "checkpoint-origin")


def test_checkpoint_with_a_root_the_log_does_not_have(export: Export) -> None:
    """A validly signed checkpoint whose root differs from the log's tree."""
    export.write_checkpoint(100, export.note(100, root=bytes(32)))
    failure = export.failure()
    assert (failure.code, failure.index, failure.checkpoint) == ("root-mismatch", 99, 100)


def test_records_past_the_last_checkpoint_are_unanchored_not_failed(export: Export) -> None:
    """Valid records after the newest checkpoint are counted as unanchored, in both modes."""
    export.lines.append(export.forge("suspended", "suspended"))
    export.save()
    for mode in ("all", "checkpoints"):
        report = export.verify(signatures=mode)
        assert report.ok and report.unanchored == 1
