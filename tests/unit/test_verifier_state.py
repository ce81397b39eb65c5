"""``LogVerifier.snapshot`` / ``restore``: a restored verifier goes on exactly as one that read everything."""

from __future__ import annotations

import pytest

from certlife.contracts.verification import LogVerifier, VerificationError, record_facts
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def _feed(verifier: LogVerifier, b: LogBuilder, start: int, stop: int | None = None) -> None:
    for position, raw in b.lines()[start:stop]:
        verifier.announce(raw)
        verifier.feed(record_facts(position, raw, verifier.directory, True))


def _log() -> tuple[LogBuilder, int]:
    """20 certificates, a rotation to k1, a checkpoint (its size returned), 10 more, a checkpoint."""
    b = LogBuilder()
    b.issue_many(20)
    b.rotate("k1")
    b.checkpoint()
    size = len(b.records)
    b.issue_many(10, "D")
    b.checkpoint()
    return b, size


def _restored(b: LogBuilder, size: int) -> LogVerifier:
    """A verifier that read the first ``size`` records, snapshotted, and a fresh one restored from it."""
    first = LogVerifier(b.trust())
    first.add_checkpoints(b.checkpoints[:1])
    _feed(first, b, 0, size)
    state = first.snapshot()
    assert state.size == first.size == size
    restored = LogVerifier(b.trust())
    restored.restore(state)
    restored.add_checkpoints(b.checkpoints[:1])
    assert restored.snapshot() == state
    return restored


def test_a_restored_verifier_ends_where_one_that_read_everything_ends() -> None:
    b, size = _log()
    full = LogVerifier(b.trust())
    full.add_checkpoints(b.checkpoints)
    _feed(full, b, 0)
    restored = _restored(b, size)
    assert restored.checks["checkpoint-root"] == 1  # the stored leaves give the checkpoint's root
    restored.extend_checkpoints(b.checkpoints[1:])
    _feed(restored, b, size)  # signed by k1, known only from the restored ring
    assert restored.snapshot() == full.snapshot()
    assert restored.finish().latest_checkpoint == full.finish().latest_checkpoint


def test_a_restored_verifier_still_knows_what_each_key_signed() -> None:
    b, size = _log()
    b.compromise(b.first_signer, 3)  # k0 signed records 3.. before the checkpoint: caught retroactively
    restored = _restored(b, size)
    restored.extend_checkpoints(b.checkpoints[1:])
    with pytest.raises(VerificationError) as caught:
        _feed(restored, b, size)
    assert (caught.value.failure.code, caught.value.failure.index) == ("key-compromised", 3)


def test_restore_refuses_a_verifier_that_has_seen_records() -> None:
    b, _ = _log()
    verifier = LogVerifier(b.trust())
    verifier.add_checkpoints([])
    _feed(verifier, b, 0, 2)
    with pytest.raises(ValueError):
        verifier.restore(verifier.snapshot())
