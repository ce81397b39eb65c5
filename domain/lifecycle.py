"""The certificate lifecycle as a pure transition table.

This table is the single source of truth for which lifecycle event may follow
which status. The ``Certificate`` aggregate enforces it when deciding, and
verifiers (``contracts``, ``certverify``, the partner mirror) replay it over
the records of the public log to reject illegal transitions.
"""

from __future__ import annotations

from enum import StrEnum

from certlife.domain.errors import InvalidTransition


class Status(StrEnum):
    """Status of a certificate after a lifecycle event (wire values)."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class LifecycleEvent(StrEnum):
    """Kinds of lifecycle change (wire values of a record's ``event``)."""

    ISSUED = "issued"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    RENEWED = "renewed"
    AMENDED = "amended"
    REVOKED = "revoked"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


#: Statuses from which no further event is allowed.
FINAL_STATUSES = frozenset({Status.REVOKED, Status.WITHDRAWN})

_V, _S, _E = Status.VALID, Status.SUSPENDED, Status.EXPIRED

#: (status before or None for a new certificate, event) -> status after.
TRANSITIONS: dict[tuple[Status | None, LifecycleEvent], Status] = {
    (None, LifecycleEvent.ISSUED): _V,
    (_V, LifecycleEvent.SUSPENDED): _S,
    (_S, LifecycleEvent.REINSTATED): _V,
    # Renewal sets a new validity period; it does not lift a suspension.
    (_V, LifecycleEvent.RENEWED): _V,
    (_S, LifecycleEvent.RENEWED): _S,
    # From expired only within the grace period; the aggregate checks the period.
    (_E, LifecycleEvent.RENEWED): _V,
    (_V, LifecycleEvent.AMENDED): _V,
    (_S, LifecycleEvent.AMENDED): _S,
    (_V, LifecycleEvent.REVOKED): Status.REVOKED,
    (_S, LifecycleEvent.REVOKED): Status.REVOKED,
    (_V, LifecycleEvent.WITHDRAWN): Status.WITHDRAWN,
    (_S, LifecycleEvent.WITHDRAWN): Status.WITHDRAWN,
    (_V, LifecycleEvent.EXPIRED): _E,
    (_S, LifecycleEvent.EXPIRED): _E,
}


def next_status(current: Status | None, event: LifecycleEvent) -> Status:
    """Return the status after ``event`` or raise ``InvalidTransition``.

    ``current`` is ``None`` for a certificate that does not exist yet.
    """
    try:
        return TRANSITIONS[(current, event)]
    except KeyError:
        raise InvalidTransition(current, event) from None
