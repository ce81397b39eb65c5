"""A fact mapper that runs the per-record work on all cores (a process pool).

Workers parse, canonical-check and signature-check whole chunks of lines and
return compact facts; the parent keeps a bounded number of chunks in flight
and yields results in input order, so memory stays flat on any log size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from certlife.contracts.verification.engine import UnitMapper
from certlife.contracts.verification.facts import Facts, runs_for_chunk

_WORKER_MODULES = ["certlife.contracts.verification.facts", "certlife.services.partner.ranges"]


def default_jobs() -> int:
    """Number of worker processes: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pool_mapper(
    jobs: int,
    in_flight: int | None = None,
    worker: Callable[[Any], Sequence[Facts]] = runs_for_chunk,
) -> UnitMapper:
    """Return a mapper running ``worker`` (:func:`runs_for_chunk`) in ``jobs`` processes.

    ``forkserver`` workers: the parent may run a Kafka reader thread, and
    forking a process with threads is unsafe. A worker that dies breaks the
    pool (``BrokenProcessPool``) instead of hanging it.
    """
    limit = in_flight or 2 * jobs + 2

    def run(chunks: Iterable[Any]) -> Iterator[Sequence[Facts]]:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_WORKER_MODULES)
        pool = ProcessPoolExecutor(jobs, mp_context=context)
        try:
            pending: deque[Future[Sequence[Facts]]] = deque()
            for chunk in chunks:
                pending.append(pool.submit(worker, chunk))
                if len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    return run
