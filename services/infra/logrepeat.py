"""Warnings and errors once per cause per interval, with a count: an outage is a few lines, not thousands.

While Kafka or PostgreSQL is away, the services and their client libraries
(aiokafka, faststream, asyncpg) report the same failure on every attempt.
:class:`RepeatFilter`, on the log handler ``certctl serve`` configures, lets the first line of each cause through — a cause is the
logger, the level, the message with its numbers blanked and the exception
type — and drops
the repeats for ``interval`` seconds; the first line after that carries how
many were dropped. A record whose exception says an endpoint went away
(:func:`certlife.services.infra.outages.outage_cause`) gets that cause appended
instead of its traceback. Lines below WARNING, and audit lines (``extra=AUDIT``: one line per event
is their point), always pass.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from certlife.projections.audit import AUDIT
from certlife.services.infra.outages import outage_cause

__all__ = ["AUDIT", "DEFAULT_INTERVAL", "RepeatFilter"]

#: Seconds a cause stays quiet after it was logged.
DEFAULT_INTERVAL = 30.0
#: The attribute ``extra=AUDIT`` sets on a record: such a record always passes.
_AUDIT_KEY = next(iter(AUDIT))
#: Numbers in a message (attempts, offsets, ports, counts) do not make another cause.
_DIGITS = re.compile(r"\d+")
#: Causes remembered at most (the oldest are forgotten first).
MAX_CAUSES = 1000


@dataclass
class _Cause:
    logged_at: float
    dropped: int = 0


class RepeatFilter(logging.Filter):
    """Pass a WARNING-or-worse record once per cause per ``interval`` seconds; count the ones dropped."""

    def __init__(
        self, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Quiet each cause for ``interval`` seconds after it was logged (``clock`` gives seconds)."""
        super().__init__()
        self.interval, self._clock = interval, clock
        self._causes: dict[tuple[str, int, str, str], _Cause] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """True to log ``record`` (once per cause per interval), False to drop it."""
        if record.levelno < logging.WARNING or getattr(record, _AUDIT_KEY, False):
            return True
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit: the handler reports it; the template is the cause
            message = str(record.msg)
        key = (record.name, record.levelno, _DIGITS.sub("#", message[:300]), error)
        now = self._clock()
        cause = self._causes.get(key)
        if cause is not None and now - cause.logged_at < self.interval:
            cause.dropped += 1
            return False
        lost = outage_cause(record.exc_info[1]) if record.exc_info and record.exc_info[1] else None
        if lost is not None:  # an endpoint went away: its name says it all, a traceback says nothing more
            _append(record, f": {lost}")
            record.exc_info, record.exc_text = None, None
        if cause is not None and cause.dropped:
            _append(record, f" [and {cause.dropped} more like it in the last {now - cause.logged_at:.0f} s]")
            if record.exc_info:  # its traceback was shown the first time
                record.exc_info, record.exc_text = None, None
        self._causes.pop(key, None)
        self._causes[key] = _Cause(now)
        while len(self._causes) > MAX_CAUSES:
            del self._causes[next(iter(self._causes))]
        return True


def _append(record: logging.LogRecord, text: str) -> None:
    """Add ``text`` to ``record``'s message (escaped when the message is a %-template with arguments)."""
    record.msg = f"{record.msg}{text.replace('%', '%%') if record.args else text}"
