"""Log lines that each report one event (a parked record, a skipped message, a refused request).

Logged with ``extra=AUDIT``, they are never merged with their repeats: the
services' repeat filter (``certlife.services.infra.logrepeat``), which keeps
an outage to a few lines, passes every one of them.
"""

from __future__ import annotations

from typing import Final

#: The ``extra=`` of an audit line.
AUDIT: Final = {"audit": True}
