"""Build and sign the records of planned steps, in this process or in worker processes.

Determinism with parallel signing: certificates are partitioned among the
workers (``cert % workers``), so each worker sees every step of its
certificates in index order and keeps their ``prev`` chain itself. Chunks of
steps are pipelined to all workers; results are merged back into index
order. Ed25519 signatures are deterministic, so the bytes do not depend on
the number of workers.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import queue
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from certlife.contracts.records import RecordSigner, build_certificate_record, build_rotation_record
from certlife.domain.errors import CertlifeError
from certlife.services.demo.fixturegen import catalog
from certlife.services.demo.fixturegen.keys import record_keys
from certlife.services.demo.fixturegen.plan import ROTATE, Step

CHUNK_SIZE = 2048
IN_FLIGHT = 4  # chunks queued ahead of the one being merged


class SigningError(CertlifeError, code="fixture-signing"):
    """A worker failed or died while building records."""


def _timestamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class RecordFactory:
    """Builds signed record bytes from steps, keeping each live certificate's last record hash."""

    def __init__(self, key: str, origin: str) -> None:
        self._key, self._origin = key, origin
        self._signers = [RecordSigner(private) for private in record_keys(key)]
        self._prev: dict[int, bytes] = {}

    def build(self, step: Step) -> bytes:
        """Return the record bytes of ``step`` (steps of a certificate must come in order)."""
        if step.event == ROTATE:
            return build_rotation_record(
                origin=self._origin,
                index=step.log_index,
                outgoing=self._signers[step.key],
                incoming=self._signers[step.key + 1],
                recorded_at=_timestamp(step.recorded),
                reason=step.reason,
            )
        data, note = catalog.certificate(
            self._key, step.cert, step.amendments, step.issued_day, step.vf_day, step.vu_day
        )
        prev = self._prev.pop(step.cert, None)
        if (prev is None) != (step.seq == 1):
            raise SigningError(f"certificate {step.cert}: step {step.seq} arrived out of order")
        record = build_certificate_record(
            origin=self._origin,
            index=step.log_index,
            certificate=data,
            event=step.event,
            status=step.status,
            seq=step.seq,
            prev=None if prev is None else prev.hex(),
            reason=note if step.event == "amended" else step.reason,
            effective_at=_timestamp(step.effective),
            recorded_at=_timestamp(step.recorded),
            signer=self._signers[step.key],
        )
        if not step.last:
            self._prev[step.cert] = hashlib.sha256(record).digest()
        return record


def _work(key: str, origin: str, inbox: Any, outbox: Any) -> None:
    """Worker process: build the records of each part received until ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    try:
        factory = RecordFactory(key, origin)
        while (part := inbox.get()) is not None:
            outbox.put(("ok", [factory.build(step) for step in part]))
    except Exception as exc:  # reported to the parent, which raises SigningError
        outbox.put(("error", f"{type(exc).__name__}: {exc}"))


def _chunks(steps: Iterable[Step]) -> Iterator[list[Step]]:
    iterator = iter(steps)
    while chunk := list(itertools.islice(iterator, CHUNK_SIZE)):
        yield chunk


class RecordStream:
    """Turns steps into record bytes in index order; ``workers=0`` signs in this process."""

    def __init__(self, key: str, origin: str, workers: int) -> None:
        self._key, self._origin, self._workers = key, origin, workers
        self._procs: list[BaseProcess] = []
        self._inboxes: list[Any] = []
        self._outboxes: list[Any] = []

    def __enter__(self) -> RecordStream:
        context = multiprocessing.get_context("spawn")
        for _ in range(self._workers):
            inbox, outbox = context.Queue(), context.Queue()
            proc = context.Process(target=_work, args=(self._key, self._origin, inbox, outbox), daemon=True)
            proc.start()
            self._procs.append(proc)
            self._inboxes.append(inbox)
            self._outboxes.append(outbox)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for inbox in self._inboxes:
            inbox.put(None)
            inbox.cancel_join_thread()
        for proc in self._procs:
            proc.join(timeout=5 if exc_type is None else 0.5)
            if proc.is_alive():
                proc.terminate()
                proc.join()

    def batches(self, steps: Iterable[Step]) -> Iterator[list[bytes]]:
        """Yield the records of ``steps`` in order, a chunk at a time."""
        if not self._workers:
            factory = RecordFactory(self._key, self._origin)
            for chunk in _chunks(steps):
                yield [factory.build(step) for step in chunk]
            return
        pending: deque[list[int]] = deque()
        for chunk in _chunks(steps):
            parts: list[list[Step]] = [[] for _ in range(self._workers)]
            owners = [step.cert % self._workers for step in chunk]
            for owner, step in zip(owners, chunk, strict=True):
                parts[owner].append(step)
            for inbox, part in zip(self._inboxes, parts, strict=True):
                inbox.put(part)
            pending.append(owners)
            if len(pending) > IN_FLIGHT:
                yield self._merge(pending.popleft())
        while pending:
            yield self._merge(pending.popleft())

    def _merge(self, owners: list[int]) -> list[bytes]:
        results = [iter(self._receive(number)) for number in range(self._workers)]
        return [next(results[owner]) for owner in owners]

    def _receive(self, number: int) -> list[bytes]:
        while True:
            try:
                kind, payload = self._outboxes[number].get(timeout=1.0)
            except queue.Empty:
                if not self._procs[number].is_alive():
                    code = self._procs[number].exitcode
                    raise SigningError(f"signing worker {number} died (exit code {code})") from None
                continue
            if kind == "error":
                raise SigningError(f"signing worker {number} failed: {payload}")
            return list(payload)
