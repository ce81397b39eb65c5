"""Run the mirror's per-chunk work on all cores without blocking its event loop.

:class:`ChunkPool` hands each chunk to a process pool and returns an asyncio
future, so the mirror keeps reading Kafka, running the sequential checks and
writing to PostgreSQL while the workers verify signatures. Until
:meth:`ChunkPool.start` (or with one job) the work runs in this process,
which is cheaper for a short log. Workers are ``forkserver`` processes (the
parent runs aiokafka's and asyncpg's sockets and may run threads) that ignore
SIGINT: Ctrl-C stops the mirror through its own handler, not by killing the
workers under it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_WORKER_MODULES = ["certlife.services.partner.mirror_work"]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ChunkPool:
    """``jobs`` worker processes once started; this process before that."""

    def __init__(self, jobs: int) -> None:
        """Prepare (not start) a pool of ``jobs`` processes."""
        self.jobs = jobs
        self._pool: ProcessPoolExecutor | None = None

    @property
    def parallel(self) -> bool:
        """True once work goes to worker processes."""
        return self._pool is not None

    def start(self) -> None:
        """Start the worker processes and wait until each is up (no-op with one job or when started).

        Blocking: the event loop may run it in a thread (``asyncio.to_thread``)
        while it does other work.
        """
        if self._pool is not None or self.jobs <= 1:
            return
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_WORKER_MODULES)
        pool = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_ignore_sigint)
        for started in [pool.submit(int) for _ in range(self.jobs)]:
            started.result()
        self._pool = pool

    def submit(self, work: Callable[[Any], T], arg: Any) -> asyncio.Future[T]:
        """``work(arg)`` in a worker (or here, at once), as a future of the running loop."""
        if self._pool is not None:
            return asyncio.wrap_future(self._pool.submit(work, arg))
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(work(arg))
        except Exception as exc:  # delivered where the result is awaited
            future.set_exception(exc)
        return future

    def close(self) -> None:
        """Stop the workers; work not started is cancelled."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
