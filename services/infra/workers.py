"""Worker processes that end with the process that started them.

A ``ProcessPoolExecutor`` worker waits on its call queue, whose pipe it holds
both ends of, so it never sees its parent die: after a SIGKILL (or any exit
that skips the pool's shutdown) it would wait for work for ever, and, as a
``forkserver`` child holding the fork server's "alive" pipe, keep that server
alive too. :func:`exit_with_parent`, run as (part of) a pool's initializer,
watches the parent's sentinel and ends the worker when the parent is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.connection import wait


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
