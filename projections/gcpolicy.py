"""The projection process's cyclic garbage collector: start-up frozen, young generation collected less often.

A batch of 2,000 records allocates some 30,000 container objects (records,
their dicts and lists, rows), nearly all freed by reference counting when the
batch is done. With CPython's default thresholds (700, 10, 10) the collector
ran ~170 young collections a second while catching up, and a full collection
every ~5,000 records walked the ~115,000 objects of the imported libraries:
about 70 ms with the event loop stopped, the batch in flight waiting on it.
:func:`tune_collector` freezes what start-up allocated (``gc.freeze``: no
collection walks it again; those objects live as long as the process anyway)
and collects the young generation every ``YOUNG_THRESHOLD`` allocations. Garbage
cycles are still collected, only later.
"""

from __future__ import annotations

import gc

#: Container allocations (less deallocations) between two young collections (CPython's default: 700).
YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Freeze the objects allocated so far and raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(YOUNG_THRESHOLD, young), middle, old)
