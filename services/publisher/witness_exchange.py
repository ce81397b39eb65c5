"""Asking one witness to cosign (C2SP tlog-witness ``add-checkpoint``) and reading its answer.

:class:`WitnessExchange` sends one request, with the old size the witness last
reported and a consistency proof from there, and classifies the answer: a
``200`` carries cosignature lines, each verified with the witness's key; a
``409 Conflict`` carries the witness's size, learned for the next request (sent
at once); refusals (400, 403, 404, 422), server errors, timeouts and bad answers
are failures, logged once per cause while they last (with a count when the
witness recovers) and retried with exponential backoff up to a cap.
:class:`WitnessStatus` is what is known of one witness between requests. Which
checkpoint to ask for, and what becomes of the cosignatures, is
:mod:`certlife.services.publisher.cosigner`'s business.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from certlife.contracts.errors import ContractError
from certlife.contracts.notes import Checkpoint
from certlife.contracts.witness import (
    ADD_CHECKPOINT_PATH,
    encode_add_checkpoint,
    parse_conflict,
    parse_cosignature_lines,
)
from certlife.services.infra import metrics
from certlife.services.publisher.witnesses import Witness, valid_cosignatures

__all__ = ["CosignerOptions", "Proofs", "WitnessExchange", "WitnessStatus"]

# The witness client's one logger, whichever of its modules logs.
log = logging.getLogger("certlife.publisher.cosigner")

#: ``(old_size, new_size) -> consistency proof`` from the local tiles.
Proofs = Callable[[int, int], Sequence[bytes]]

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


def _count(witness: Witness, result: str) -> None:
    """One add-checkpoint request's result in ``certlife_cosignatures_total``."""
    metrics.publisher().cosignatures.labels(witness.name, result).inc()


class WitnessExchange:
    """One ``add-checkpoint`` exchange at a time per witness, and what its answer means for its status."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        proofs: Proofs,
        options: CosignerOptions,
        clock: Callable[[], float],
        newest: Callable[[], int],
    ) -> None:
        """Ask through ``client``; ``newest()`` is the size of the newest checkpoint to be cosigned."""
        self.options = options
        self._client, self._proofs, self._clock, self._newest = client, proofs, clock, newest
        #: Set whenever an exchange ends (answered or not).
        self.answered = asyncio.Event()

    async def ask(self, state: WitnessStatus, checkpoint: Checkpoint, note: str) -> list[str]:
        """Ask for a cosignature on ``note``; its valid cosignature lines, or none (the failure recorded)."""
        witness, size = state.witness, checkpoint.size
        old = state.known_size or 0
        proof = [] if old in (0, size) else list(self._proofs(old, size))
        state.in_flight = size
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.options.timeout):  # the whole exchange, not each read
                response = await self._client.post(
                    witness.url.rstrip("/") + ADD_CHECKPOINT_PATH,
                    content=encode_add_checkpoint(old, proof, note),
                    timeout=self.options.timeout,
                )
        except (TimeoutError, httpx.TimeoutException):
            _count(witness, "timeout")
            self.failed(state, f"no answer within {self.options.timeout:g} s")
            return []
        except httpx.HTTPError as exc:
            _count(witness, "unreachable")
            self.failed(state, f"unreachable ({type(exc).__name__})")
            return []
        finally:
            state.in_flight = None
            self.answered.set()
        metrics.publisher().witness_seconds.labels(witness.name).observe(time.perf_counter() - started)
        if response.status_code == 200:
            lines = self._accept(state, checkpoint, response.content)
            _count(witness, "cosigned" if lines else "bad-answer")
            return lines
        if response.status_code == 409:
            _count(witness, "conflict")
            self._conflict(state, old, response.content)
            return []
        code = response.status_code
        _count(witness, "server-error" if code >= 500 else "refused")
        cause = _REFUSALS.get(code) or (f"{code} server error" if code >= 500 else f"unexpected HTTP {code}")
        if code in (400, 422):
            state.known_size = None  # learn its size again (old 0 gets a 409 with it)
        self.failed(state, cause)
        return []

    def _accept(self, state: WitnessStatus, checkpoint: Checkpoint, body: bytes) -> list[str]:
        try:
            lines = parse_cosignature_lines(body)
        except ContractError:
            self.failed(state, "a 200 answer that is not signature lines")
            return []
        valid = valid_cosignatures(state.witness, checkpoint, lines)
        if not valid:
            self.failed(state, "no valid cosignature by its key in the 200 answer")
            return []
        if state.streak:
            causes = ", ".join(f"{cause} x{count}" for cause, count in state.streak.items())
            log.info("witness %s: cosigned size %d after %s", state.witness.name, checkpoint.size, causes)
        state.streak.clear()
        state.retry_at = 0.0
        state.cosigned = max(state.cosigned, checkpoint.size)
        state.known_size = max(state.known_size or 0, checkpoint.size)
        return valid

    def _conflict(self, state: WitnessStatus, old: int, body: bytes) -> None:
        try:
            size = parse_conflict(body)
        except ContractError:
            self.failed(state, "409 answer without a tree size")
            return
        if size == old:
            self.failed(state, f"409 Conflict naming the old size sent ({size})")
            return
        state.known_size = size
        if size > self._newest():
            self.failed(state, f"the witness is at size {size}, beyond the newest checkpoint")

    def failed(self, state: WitnessStatus, cause: str) -> None:
        """Record a failed attempt: count it, schedule the retry, log a cause the first time in a streak."""
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
