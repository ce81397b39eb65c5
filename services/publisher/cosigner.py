"""The log's witness client (C2SP tlog-witness): every witness cosigns the newest checkpoint.

One task per witness asks it, by ``add-checkpoint``, to cosign the newest
checkpoint it has not cosigned yet (one exchange and its answer:
:mod:`certlife.services.publisher.witness_exchange`, which also retries a
``409 Conflict`` at once and failures with backoff); a newer checkpoint
replaces an older one still waiting. The valid cosignatures returned are
merged into the note, which is handed to ``publish`` (one call per batch of
answers for a size, so a quick pair of witnesses gives one message). Nothing
here ever waits for a witness on the log's behalf.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx

from certlife.contracts.cosignature import add_signature_lines
from certlife.contracts.notes import Checkpoint, signature_count
from certlife.services.publisher.witness_exchange import (
    CosignerOptions,
    Proofs,
    WitnessExchange,
    WitnessStatus,
)
from certlife.services.publisher.witnesses import (
    Witness,
    note_body,
    signature_lines,
    valid_cosignatures,
)

__all__ = ["Cosigner", "CosignerOptions", "Proofs", "Publish", "Witness", "WitnessStatus"]

#: Called with ``(size, note)`` when the note of ``size`` carries new cosignatures.
Publish = Callable[[int, str], Awaitable[None]]


class Cosigner:
    """Collects cosignatures on the newest checkpoint from every witness; see the module docstring."""

    def __init__(
        self,
        witnesses: Sequence[Witness],
        client: httpx.AsyncClient,
        proofs: Proofs,
        publish: Publish,
        options: CosignerOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wire the client; ``client`` is the root's HTTP client (kept open by it)."""
        self.status = {w.name: WitnessStatus(w) for w in witnesses}
        self.options = options or CosignerOptions()
        self._publish, self._clock = publish, clock
        self._exchange = WitnessExchange(client, proofs, self.options, clock, lambda: self.latest_size)
        self._latest: tuple[Checkpoint, str] | None = None
        self._notes: dict[int, str] = {}
        self._published: dict[int, int] = {}
        self._changed = {name: asyncio.Event() for name in self.status}
        self._dirty = asyncio.Event()

    @property
    def latest_size(self) -> int:
        """Size of the newest checkpoint offered (-1: none)."""
        return -1 if self._latest is None else self._latest[0].size

    def offer(self, note: str) -> None:
        """A new checkpoint note (signed by the log); older ones still waiting are dropped.

        Cosignatures it already carries from a configured witness (a note
        published before a restart) count as done for that witness.
        """
        checkpoint = Checkpoint.parse(note_body(note))
        if self._latest is not None and checkpoint.size <= self._latest[0].size:
            if checkpoint != self._latest[0]:
                return  # older, or not the one we hold
        else:
            self._latest = (checkpoint, note)
            self._notes[checkpoint.size] = note
            self._prune()  # older notes nothing is answering for: superseded
        for state in self.status.values():
            valid = valid_cosignatures(state.witness, checkpoint, signature_lines(note))
            if valid:
                self._notes[checkpoint.size] = add_signature_lines(self._notes[checkpoint.size], valid)
                state.cosigned = max(state.cosigned, checkpoint.size)
                state.known_size = max(state.known_size or 0, checkpoint.size)
            self._changed[state.witness.name].set()
        # What arrived in a note is published already.
        published = max(self._published.get(checkpoint.size, 0), signature_count(note))
        self._published[checkpoint.size] = published

    def note(self, size: int) -> str | None:
        """The merged note of ``size`` while it is kept (the newest, or one still being answered)."""
        return self._notes.get(size)

    async def run(self, stop: asyncio.Event) -> None:
        """Ask the witnesses and publish their cosignatures until ``stop`` is set."""
        tasks = [asyncio.create_task(self._serve(s, stop)) for s in self.status.values()]
        tasks.append(asyncio.create_task(self._publish_loop(stop)))
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one witness ---------------------------------------------------------------

    def _target(self, state: WitnessStatus) -> tuple[Checkpoint, str] | None:
        if self._latest is None:
            return None
        checkpoint, note = self._latest
        if state.cosigned >= checkpoint.size or (state.known_size or 0) > checkpoint.size:
            return None  # done, or the witness is ahead of us: wait for a newer checkpoint
        return checkpoint, note

    async def _serve(self, state: WitnessStatus, stop: asyncio.Event) -> None:
        changed = self._changed[state.witness.name]
        while not stop.is_set():
            changed.clear()
            target = self._target(state)
            if target is None:
                await changed.wait()
                continue
            delay = state.retry_at - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
                continue  # a newer checkpoint may have arrived meanwhile
            await self._ask(state, *target)

    async def _ask(self, state: WitnessStatus, checkpoint: Checkpoint, note: str) -> None:
        valid = await self._exchange.ask(state, checkpoint, note)
        merged = self._notes.get(checkpoint.size)
        if valid and merged is not None:
            self._notes[checkpoint.size] = add_signature_lines(merged, valid)
            self._dirty.set()

    # -- publishing -------------------------------------------------------------------

    async def _publish_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._dirty.wait()
            self._dirty.clear()
            deadline = self._clock() + self.options.gather
            # Let witnesses still answering on a pending size join this message.
            while any(s.in_flight in self._notes for s in self.status.values()):
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._exchange.answered.clear()
                try:
                    await asyncio.wait_for(self._exchange.answered.wait(), remaining)
                except TimeoutError:
                    break
            for size in sorted(self._notes):
                note = self._notes[size]
                if signature_count(note) > self._published.get(size, 0):
                    await self._publish(size, note)
                    self._published[size] = signature_count(note)
            self._prune()

    def _prune(self) -> None:
        keep = {self.latest_size} | {s.in_flight for s in self.status.values()}
        unpublished = {s for s, n in self._notes.items() if signature_count(n) > self._published.get(s, 0)}
        for size in [s for s in self._notes if s not in keep | unpublished]:
            del self._notes[size]
            self._published.pop(size, None)
