"""The verifier's worker processes: per-record work on all cores, for ``certverify`` and the mirror.

:class:`WorkerPool` is the one process pool both use: ``forkserver`` workers
(the parent may run a Kafka reader thread, asyncio sockets or threads, and
forking a process with threads is unsafe) that preload the verifier's modules
and ignore SIGINT (Ctrl-C stops the parent through its own handling, which
then stops the workers). A worker that dies breaks the pool
(``BrokenProcessPool``) instead of hanging it. Until it is started (or with
one job) work runs in the calling process, which is cheaper for a short log;
:meth:`WorkerPool.start_soon` starts it in the background, the calling
process doing the work meanwhile.

:func:`pool_mapper` (``certverify``) runs the per-record work on whole chunks
of lines and yields the compact facts in input order with a bounded number of
chunks in flight, so memory stays flat on any log size; the partner mirror
submits its chunks itself (``certlife.services.partner.mirror_reader``) and
awaits them from its event loop.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar, overload

from certlife.contracts.verification.engine import UnitMapper
from certlife.contracts.verification.facts import runs_for_chunk
from certlife.services.infra.workers import exit_with_parent, forkserver_pool

T = TypeVar("T")

#: What workers import once, in the forkserver, before any work arrives.
WORKER_MODULES = (
    "certlife.contracts.verification.facts",
    "certlife.services.partner.ranges",
)


def default_jobs() -> int:
    """Number of worker processes: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_start() -> None:
    """Each worker ignores SIGINT (its parent handles Ctrl-C) and ends when its parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent()


class WorkerPool:
    """``jobs`` worker processes once started; the calling process before that (or with one job)."""

    def __init__(self, jobs: int, preload: Sequence[str] = WORKER_MODULES) -> None:
        """Prepare (not start) a pool of ``jobs`` processes that import ``preload`` up front."""
        self.jobs = jobs
        self.preload = list(preload)
        self._pool: ProcessPoolExecutor | None = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None

    @property
    def parallel(self) -> bool:
        """True once work goes to worker processes."""
        return self._pool is not None

    def start(self, *, wait: bool = True) -> None:
        """Start the pool (no-op with one job or when started); with ``wait``, until every worker is up.

        Blocking: an event loop may run it in a thread (``asyncio.to_thread``)
        while it does other work. Without ``wait`` the workers start as work arrives.
        """
        if self._pool is not None or self.jobs <= 1:
            return
        pool = forkserver_pool(self.jobs, self.preload, initializer=_worker_start)
        if wait:
            for started in [pool.submit(int) for _ in range(self.jobs)]:
                started.result()
        self._pool = pool

    def start_soon(self) -> None:
        """Start the pool in a thread and return at once; until every worker is up, work runs here.

        Starting takes a while (the fork server imports the verifier's modules
        before it forks a worker): meanwhile :meth:`submit` runs work in this
        process, so that its core does not sit idle. An error starting the pool
        is raised by the next :meth:`submit`.
        """
        if self._pool is not None or self._starting is not None or self.jobs <= 1:
            return

        def start() -> None:
            try:
                self.start(wait=True)
            except BaseException as exc:  # raised in the caller's thread, see submit
                self._start_error = exc

        self._starting = threading.Thread(target=start, name="worker-pool-start", daemon=True)
        self._starting.start()

    def submit(self, work: Callable[[Any], T], arg: Any) -> Future[T]:
        """``work(arg)`` in a worker; before :meth:`start` (or while starting), here and now (the future is then done)."""
        if self._start_error is not None:
            raise self._start_error
        if self._pool is not None:
            return self._pool.submit(work, arg)
        future: Future[T] = Future()
        try:
            future.set_result(work(arg))
        except Exception as exc:  # delivered where the result is read
            future.set_exception(exc)
        return future

    def ordered(
        self, work: Callable[[Any], T], units: Iterable[Any], in_flight: int
    ) -> Generator[T, None, None]:
        """``work`` of every unit, in unit order, at most ``in_flight`` units submitted and not yet taken."""
        pending: deque[Future[T]] = deque()
        for unit in units:
            pending.append(self.submit(work, unit))
            if len(pending) >= in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        """Stop the workers (once started, if :meth:`start_soon` is starting them); work not started is cancelled."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@overload
def pool_mapper(jobs: int, in_flight: int | None = None) -> UnitMapper: ...


@overload
def pool_mapper(
    jobs: int, in_flight: int | None = None, *, worker: Callable[[Any], T]
) -> Callable[[Iterable[Any]], Iterator[T]]: ...


def pool_mapper(
    jobs: int, in_flight: int | None = None, worker: Callable[[Any], Any] = runs_for_chunk
) -> Callable[[Iterable[Any]], Iterator[Any]]:
    """Return a mapper running ``worker`` (:func:`runs_for_chunk`) in a :class:`WorkerPool` of ``jobs``."""
    limit = in_flight or 2 * jobs + 2

    def run(chunks: Iterable[Any]) -> Iterator[Any]:
        pool = WorkerPool(jobs)
        pool.start_soon()  # now: the caller may do other work before it takes the first result
        return PoolResults(pool, pool.ordered(worker, chunks, limit))

    return run


class PoolResults(Iterator[T]):
    """The results of :meth:`WorkerPool.ordered`; the pool closes when they end, fail or are closed.

    Closing also works before the first result is taken (a generator's
    ``finally`` would not run then).
    """

    def __init__(self, pool: WorkerPool, results: Generator[T, None, None]) -> None:
        """Take ``results`` of ``pool`` (which this object now closes)."""
        self._pool, self._results = pool, results

    def __next__(self) -> T:
        """The next result; at the end or on an error, the pool is closed first."""
        try:
            return next(self._results)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop taking results and close the pool."""
        self._results.close()
        self._pool.close()
