"""The log's witness client (C2SP tlog-witness): every witness cosigns the newest checkpoint.

One task per witness asks it, by ``add-checkpoint``, to cosign the newest
checkpoint it has not cosigned yet, with the old size it last reported and a
consistency proof from there. A ``409 Conflict`` carries the witness's size: the
request is retried at once from that size. Refusals (400, 403, 404, 422),
server errors and timeouts are logged once per cause while they last (with a
count when the witness recovers) and retried with exponential backoff up to a
cap; a newer checkpoint replaces an older one still waiting. Each returned
cosignature is verified with the witness's key before it is used; the valid
ones are merged into the note, which is handed to ``publish`` (one call per
batch of answers for a size, so a quick pair of witnesses gives one message).
Nothing here ever waits for a witness on the log's behalf.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from certlife.contracts.cosignature import add_signature_lines
from certlife.contracts.errors import ContractError
from certlife.contracts.notes import Checkpoint
from certlife.contracts.witness import (
    ADD_CHECKPOINT_PATH,
    encode_add_checkpoint,
    parse_conflict,
    parse_cosignature_lines,
)
from certlife.services.publisher.witnesses import (
    Witness,
    note_body,
    signature_count,
    signature_lines,
    valid_cosignatures,
)

__all__ = ["Cosigner", "CosignerOptions", "Proofs", "Publish", "Witness", "WitnessStatus"]

log = logging.getLogger("certlife.publisher.cosigner")

#: ``(old_size, new_size) -> consistency proof`` from the local tiles.
Proofs = Callable[[int, int], Sequence[bytes]]
#: Called with ``(size, note)`` when the note of ``size`` carries new cosignatures.
Publish = Callable[[int, str], Awaitable[None]]

_REFUSALS = {
    400: "400 Bad Request (old size above the checkpoint's)",
    403: "403 Forbidden (the witness does not accept the log's signature)",
    404: "404 Not Found (the witness does not know this log's origin)",
    422: "422 Unprocessable Entity (consistency refused: a fork, or a bad proof)",
}


@dataclass(frozen=True)
class CosignerOptions:
    """Timing of the witness client."""

    #: Seconds one ``add-checkpoint`` request may take.
    timeout: float = 10.0
    #: First retry delay after a failure (doubles per consecutive failure) and its cap, in seconds.
    backoff_initial: float = 0.5
    backoff_cap: float = 60.0
    #: Seconds a new cosignature waits for other witnesses still answering on the same size.
    gather: float = 1.0


@dataclass
class WitnessStatus:
    """What the client knows of one witness."""

    witness: Witness
    #: The size the witness last reported (its latest cosigned checkpoint); None: not known yet.
    known_size: int | None = None
    #: The largest size it cosigned for us (-1: none).
    cosigned: int = -1
    #: Every failed request so far, by cause (refusals, server errors, timeouts, bad answers).
    refusals: Counter[str] = field(default_factory=Counter)
    #: Failures since the last success, by cause (logged once each, counted on recovery).
    streak: Counter[str] = field(default_factory=Counter)
    retry_at: float = 0.0
    in_flight: int | None = None

    @property
    def failing(self) -> int:
        """Consecutive failed attempts."""
        return sum(self.streak.values())


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
        self._client, self._proofs, self._publish, self._clock = client, proofs, publish, clock
        self._latest: tuple[Checkpoint, str] | None = None
        self._notes: dict[int, str] = {}
        self._published: dict[int, int] = {}
        self._changed = {name: asyncio.Event() for name in self.status}
        self._dirty = asyncio.Event()
        self._answered = asyncio.Event()

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
        witness, size = state.witness, checkpoint.size
        old = state.known_size or 0
        proof = [] if old in (0, size) else list(self._proofs(old, size))
        state.in_flight = size
        try:
            async with asyncio.timeout(self.options.timeout):  # the whole exchange, not each read
                response = await self._client.post(
                    witness.url.rstrip("/") + ADD_CHECKPOINT_PATH,
                    content=encode_add_checkpoint(old, proof, note),
                    timeout=self.options.timeout,
                )
        except (TimeoutError, httpx.TimeoutException):
            self._failed(state, f"no answer within {self.options.timeout:g} s")
            return
        except httpx.HTTPError as exc:
            self._failed(state, f"unreachable ({type(exc).__name__})")
            return
        finally:
            state.in_flight = None
            self._answered.set()
        if response.status_code == 200:
            self._accept(state, checkpoint, response.content)
        elif response.status_code == 409:
            self._conflict(state, old, response.content)
        else:
            code = response.status_code
            cause = _REFUSALS.get(code) or (
                f"{code} server error" if code >= 500 else f"unexpected HTTP {code}"
            )
            if code in (400, 422):
                state.known_size = None  # learn its size again (old 0 gets a 409 with it)
            self._failed(state, cause)

    def _accept(self, state: WitnessStatus, checkpoint: Checkpoint, body: bytes) -> None:
        try:
            lines = parse_cosignature_lines(body)
        except ContractError:
            self._failed(state, "a 200 answer that is not signature lines")
            return
        valid = valid_cosignatures(state.witness, checkpoint, lines)
        if not valid:
            self._failed(state, "no valid cosignature by its key in the 200 answer")
            return
        if state.streak:
            causes = ", ".join(f"{cause} x{count}" for cause, count in state.streak.items())
            log.info("witness %s: cosigned size %d after %s", state.witness.name, checkpoint.size, causes)
        state.streak.clear()
        state.retry_at = 0.0
        state.cosigned = max(state.cosigned, checkpoint.size)
        state.known_size = max(state.known_size or 0, checkpoint.size)
        note = self._notes.get(checkpoint.size)
        if note is not None:
            self._notes[checkpoint.size] = add_signature_lines(note, valid)
            self._dirty.set()

    def _conflict(self, state: WitnessStatus, old: int, body: bytes) -> None:
        try:
            size = parse_conflict(body)
        except ContractError:
            self._failed(state, "409 answer without a tree size")
            return
        if size == old:
            self._failed(state, f"409 Conflict naming the old size sent ({size})")
            return
        state.known_size = size
        if self._latest is not None and size > self._latest[0].size:
            self._failed(state, f"the witness is at size {size}, beyond the newest checkpoint")

    def _failed(self, state: WitnessStatus, cause: str) -> None:
        state.refusals[cause] += 1
        state.streak[cause] += 1
        delay = min(self.options.backoff_cap, self.options.backoff_initial * 2 ** (state.failing - 1))
        state.retry_at = self._clock() + delay
        if state.streak[cause] == 1:
            log.warning(
                "witness %s (%s): %s; retrying with backoff (at most every %g s), the log goes on",
                state.witness.name,
                state.witness.url,
                cause,
                self.options.backoff_cap,
            )

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
                self._answered.clear()
                try:
                    await asyncio.wait_for(self._answered.wait(), remaining)
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
