"""With tiles: when the mirror stores the verifier's state, so that the next run resumes there.

The state (:class:`~certlife.services.partner.mirror_tiles.ResumeState`) is
captured at an applied checkpoint at most every :data:`RESUME_EVERY` seconds,
stored in the transaction that applies that checkpoint's records, and stored
again when a run ends with the verifier standing at the applied checkpoint.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from certlife.contracts.trust import TrustFile
from certlife.contracts.verification import LogVerifier, VerifiedCheckpoint
from certlife.services.partner.mirror_tiles import ResumeState

#: The verifier state is stored with an applied checkpoint at most this often (seconds), and when a run ends.
RESUME_EVERY = 30.0


class ResumeKeeper:
    """One mirror run's verifier snapshots: restored at the start, captured now and then, stored on apply."""

    def __init__(self, conn: asyncpg.Connection, schema: str, trust: TrustFile) -> None:
        """Keep the state in ``schema``'s resume table through ``conn``, for a mirror of ``trust``."""
        self.state = ResumeState(conn, schema, trust)
        self._snapshots: dict[int, tuple[Any, ...]] = {}
        self._saved_at = time.monotonic()

    async def restore(self, verifier: LogVerifier, applied: int) -> int:
        """Create the table if needed; bring a fresh ``verifier`` to the stored state; its size (0: none)."""
        await self.state.create()
        return await self.state.restore(verifier, applied)

    def capture(self, verifier: LogVerifier, cp: VerifiedCheckpoint) -> None:
        """Now and then: the verifier's state at ``cp`` (if it stands there), to store with its records."""
        if verifier.size != cp.size:
            return
        if time.monotonic() - self._saved_at >= RESUME_EVERY:
            self._snapshots[cp.size] = self.state.capture(verifier, cp.note)
            self._saved_at = time.monotonic()

    def take(self, size: int) -> tuple[Any, ...] | None:
        """The state captured at ``size``, if any (to store with that checkpoint's records)."""
        return self._snapshots.pop(size, None)

    async def write(self, captured: tuple[Any, ...]) -> None:
        """Store a captured state (in the caller's transaction, if any)."""
        await self.state.write(captured)

    async def finish(self, verifier: LogVerifier, applied: int) -> None:
        """At the end of a run: store the verifier's state, if it stands at the applied checkpoint."""
        latest = verifier.report.latest_checkpoint
        if latest is None or not verifier.size == applied == latest.size:
            return
        await self.state.write(self.state.capture(verifier, latest.note))
