"""Per-client token buckets: ``rate`` requests a second, bursts of ``burst``.

Each client (its address) has a bucket of ``burst`` tokens refilled at
``rate`` a second; a request takes one token or, when none is left, is
refused with the seconds until the next token (the ``Retry-After`` of the
429 answer). At most ``max_clients`` buckets are kept: the least recently
used one goes first (a forgotten client starts with a full bucket).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBuckets:
    """Token buckets keyed by client; :meth:`take` answers 0 (allowed) or the seconds to wait."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Buckets of ``burst`` tokens refilled at ``rate`` per second (``rate`` 0: no limit)."""
        self.rate, self.burst, self.max_clients, self.clock = rate, max(1, burst), max_clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, when)

    def take(self, client: str) -> int:
        """Take a token for ``client``: 0 when allowed, else whole seconds until one is available (>= 1)."""
        if self.rate <= 0:
            return 0
        now = self.clock()
        tokens, when = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - when) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return 0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate))
