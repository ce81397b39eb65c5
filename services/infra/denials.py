"""A faststream service that the broker stops authorizing exits with one line instead of retrying.

faststream's consumer loop logs "Kafka error occurred" and retries every 5 s on
any Kafka error, a refused authorization too: a service whose grants were taken
away would log that forever and never move again. :func:`exit_on_denial` watches
the service's logger (faststream logs through it) for an authentication or
authorization failure, drops that line, and asks the app to exit; the caller then
raises the failure, which ``certctl serve`` turns into one line naming the
principal and the missing grant (exit 1). Its supervisor restarts it, and the
restart's preflight checks the grants again, so it runs once they are back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Protocol

from certlife.services.infra.kafka_access import is_denial


class Exitable(Protocol):
    """What :func:`exit_on_denial` needs of an app: a way to ask it to stop."""

    def exit(self) -> None:
        """Stop soon (faststream's ``FastStream.exit``)."""


class Runnable(Exitable, Protocol):
    """An app :func:`run_until_denied` runs (faststream's ``FastStream``)."""

    async def run(self) -> None:
        """Run until asked to stop."""


class DenialWatch(logging.Filter):
    """A logger filter that notes the first refusal, stops the app, and keeps the line out of the log."""

    def __init__(self, app: Exitable) -> None:
        """Watch for ``app``."""
        super().__init__()
        self.app = app
        self.denied: BaseException | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop) for a record that carries a refusal; True for anything else."""
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not is_denial(exc):
            return True
        if self.denied is None:
            self.denied = exc
            self.app.exit()
        return False


@contextlib.contextmanager
def exit_on_denial(app: Exitable, logger: logging.Logger) -> Iterator[DenialWatch]:
    """Watch ``logger`` for a refusal while the block runs (see the module's docstring)."""
    watch = DenialWatch(app)
    logger.addFilter(watch)
    try:
        yield watch
    finally:
        logger.removeFilter(watch)


async def run_until_denied(app: Runnable, logger: logging.Logger) -> None:
    """Run ``app`` until it stops; raise the refusal that stopped it, if one did (``certctl serve``
    turns it into one line naming the principal and the grant)."""
    with exit_on_denial(app, logger) as watch:
        await app.run()
    if watch.denied is not None:
        raise watch.denied
