"""Build and sign records in a worker process, so signing overlaps publishing.

The relay's loop fetches batch N+1 from the event store and hands it to this
builder while batch N's Kafka transaction is in flight: building (admission
check, canonical JSON, Ed25519, hashing) is most of the relay's CPU, and in a
second process it runs on another core instead of waiting for the GIL.

The workers are stateless: each call carries the events, the chain heads, the
state to extend and the signer, and returns the built batch and the extended
state. With two workers (the default on two or more cores) a batch is split by
certificate (each certificate's events stay together, so each chain is built in
one worker), both halves are signed at once, and the parts are merged in log
order (``records.assemble``: the same bytes, heads, tree and refusal as one
sequential build). A worker that dies raises ``BrokenProcessPool`` in the relay,
which then exits like on any other failure (nothing was published from that batch).
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from certlife.contracts.records import RecordSigner
from certlife.services.infra.workers import forkserver_context, forkserver_pool
from certlife.services.relay.records import (
    BuiltBatch,
    BuiltPart,
    EventSource,
    PartEvents,
    assemble,
    build_part,
    build_records,
)
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


#: Batches smaller than this are built in the relay's own process, in a thread: the round trip
#: to a worker (pickling the events there and the batch back) costs more CPU than it saves, and
#: at moderate load, where batches are small, that CPU is what queues the next batch.
SPLIT_FROM = 64
#: Worker processes by default: two where there are two cores (signing is the relay's critical path).
DEFAULT_WORKERS = max(1, min(2, os.cpu_count() or 1))


def split(sources: Sequence[EventSource], parts: int) -> list[list[tuple[int, EventSource]]]:
    """``sources`` as (position, source) lists, one per part, by certificate number: every event
    of a certificate lands in the same part, in batch order."""
    out: list[list[tuple[int, EventSource]]] = [[] for _ in range(parts)]
    for position, source in enumerate(sources):
        number = source.fields["certificate"]["number"]
        out[zlib.crc32(number.encode("utf-8", "surrogatepass")) % parts].append((position, source))
    return [items for items in out if items]


def _ready() -> None:
    """Nothing: a first task that makes the worker import this module before a batch waits for it."""


def start_forkserver() -> None:
    """Start the forkserver with this module imported, so each worker forked from it is ready at
    once (a warm spare calls this before its service starts: ``certlife.services.cli.spare``)."""
    from multiprocessing import forkserver

    forkserver_context([__name__])
    forkserver.ensure_running()


class RecordBuilder:
    """Runs :func:`build_records` in ``workers`` worker processes, a batch smaller than
    ``inline_below`` in a thread (``in_process=False``: every batch in a thread)."""

    def __init__(
        self,
        origin: str,
        *,
        in_process: bool = True,
        workers: int = DEFAULT_WORKERS,
        inline_below: int = SPLIT_FROM,
    ) -> None:
        """Prepare the builder; the workers start on first use."""
        self.origin = origin
        self.in_process = in_process
        self.workers = max(1, workers)
        self.inline_below = inline_below
        self._pool: ProcessPoolExecutor | None = None

    async def build(
        self, sources: Sequence[EventSource], heads: dict[str, Head], state: RelayState, signer: RecordSigner
    ) -> tuple[BuiltBatch, RelayState]:
        """Build ``sources`` on ``state`` (left unchanged); return the batch and the extended state."""
        if not self.in_process or len(sources) < self.inline_below:
            new = state.copy()
            return await asyncio.to_thread(_build, sources, heads, new, signer, self.origin)
        loop = asyncio.get_running_loop()
        if self.workers == 1 or len(sources) < SPLIT_FROM:
            return await loop.run_in_executor(
                self._worker(), _build, sources, heads, state, signer, self.origin
            )
        pool, first = self._worker(), state.tree_size
        parts: list[BuiltPart] = await asyncio.gather(
            *(
                loop.run_in_executor(
                    pool,
                    build_part,
                    PartEvents.of(items),
                    first,
                    _heads_of(items, heads),
                    signer,
                    self.origin,
                )
                for items in split(sources, self.workers)
            )
        )
        new = state.copy()
        return assemble(parts, sources, new, self.origin), new

    def warm(self) -> None:
        """Start the workers now (they import in the background) rather than on the first batch."""
        if self.in_process:
            for _ in range(self.workers):
                self._worker().submit(_ready)

    def _worker(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Workers that end with the relay (even a SIGKILLed one), this module preloaded.
            self._pool = forkserver_pool(self.workers, [__name__])
        return self._pool

    def close(self) -> None:
        """Stop the workers (if they run)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _heads_of(items: Sequence[tuple[int, EventSource]], heads: dict[str, Head]) -> dict[str, Head]:
    """The chain heads of the certificates in ``items`` (only those travel to its worker)."""
    numbers = {source.fields["certificate"]["number"] for _, source in items}
    return {number: heads[number] for number in numbers & heads.keys()}
