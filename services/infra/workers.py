"""Worker processes that end with the process that started them.

A ``ProcessPoolExecutor`` worker waits on its call queue, whose pipe it holds
both ends of, so it never sees its parent die: after a SIGKILL (or any exit
that skips the pool's shutdown) it would wait for work for ever, and, as a
``forkserver`` child holding the fork server's "alive" pipe, keep that server
alive too. :func:`exit_with_parent`, run as (part of) a pool's initializer,
watches the parent's sentinel and ends the worker when the parent is gone.

A parent that ends without shutting its pool down (SIGKILL, or ``os._exit`` on a
lost session) leaves the pool's semaphores to multiprocessing's resource
tracker, which removes them once the workers are gone and warns about each on
the stderr it inherited: the service's log, after the line that says why it
stopped. The tracker of a pool from :func:`forkserver_context` keeps that
cleanup and drops the warning.

:func:`forkserver_pool` is how every pool of the project starts its workers
(the relay's builder, the verifier's pool): both of the above, and a fork
server (the parents run threads, which forking would copy in any state).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait
from multiprocessing.context import BaseContext


def exit_with_parent() -> None:
    """In a worker process: end it (exit 0) as soon as its parent process is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a multiprocessing child: nothing to watch
        return
    sentinel = parent.sentinel

    def watch() -> None:
        wait([sentinel])  # readable (EOF) once the parent is gone
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


#: The resource tracker's warning about semaphores it removes (a ``-W`` filter: no ``:`` inside).
_TRACKER_WARNING = "ignore:resource_tracker:UserWarning"


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (if this process has none yet) without its
    "leaked semaphore objects" warning: it inherits this interpreter's ``-W`` options."""
    if _TRACKER_WARNING not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_WARNING)


def forkserver_context(preload: Sequence[str]) -> BaseContext:
    """The ``forkserver`` context, its server importing ``preload`` first (when it starts after
    this call) and its resource tracker without the "leaked semaphore objects" warning."""
    _quiet_resource_tracker()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


def forkserver_pool(
    workers: int, preload: Sequence[str], initializer: Callable[[], None] = exit_with_parent
) -> ProcessPoolExecutor:
    """``workers`` processes from :func:`forkserver_context`; ``initializer`` (which must call
    :func:`exit_with_parent`) runs first in each."""
    return ProcessPoolExecutor(workers, mp_context=forkserver_context(preload), initializer=initializer)
