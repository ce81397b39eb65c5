"""Build and sign records in a worker process, so signing overlaps publishing.

The relay's loop fetches batch N+1 from the event store and hands it to this
builder while batch N's Kafka transaction is in flight: building (admission
check, canonical JSON, Ed25519, hashing) is most of the relay's CPU, and in a
second process it runs on another core instead of waiting for the GIL.

The worker is stateless: each call carries the events, the chain heads, the
state to extend and the signer, and returns the built batch and the extended
state. A worker that dies raises ``BrokenProcessPool`` in the relay, which then
exits like on any other failure (nothing was published from that batch).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from certlife.contracts.records import RecordSigner
from certlife.services.relay.records import BuiltBatch, EventSource, build_records
from certlife.services.relay.state import RelayState
from certlife.services.relay.store import Head


def _build(
    sources: Sequence[EventSource],
    heads: dict[str, Head],
    state: RelayState,
    signer: RecordSigner,
    origin: str,
) -> tuple[BuiltBatch, RelayState]:
    built = build_records(sources, heads, state, signer, origin)
    return built, state


def _ready() -> None:
    """Nothing: a first task that makes the worker import this module before a batch waits for it."""


def start_forkserver() -> None:
    """Start the forkserver with this module imported, so each worker forked from it is ready at
    once (a warm spare calls this before its service starts: ``certlife.services.cli.spare``)."""
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    forkserver.ensure_running()


class RecordBuilder:
    """Runs :func:`build_records` in one worker process (``in_process=False``) or in a thread."""

    def __init__(self, origin: str, *, in_process: bool = True) -> None:
        """Prepare the builder; the worker starts on first use."""
        self.origin = origin
        self.in_process = in_process
        self._pool: ProcessPoolExecutor | None = None

    async def build(
        self, sources: Sequence[EventSource], heads: dict[str, Head], state: RelayState, signer: RecordSigner
    ) -> tuple[BuiltBatch, RelayState]:
        """Build ``sources`` on ``state`` (left unchanged); return the batch and the extended state."""
        if not self.in_process:
            new = state.copy()
            return await asyncio.to_thread(_build, sources, heads, new, signer, self.origin)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker(), _build, sources, heads, state, signer, self.origin)

    def warm(self) -> None:
        """Start the worker now (it imports in the background) rather than on the first batch."""
        if self.in_process:
            self._worker().submit(_ready)

    def _worker(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: the relay runs threads (event-store pool, Kafka), and forking them is unsafe.
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
        return self._pool

    def close(self) -> None:
        """Stop the worker (if it runs)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
