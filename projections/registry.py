"""The defined projections, by name."""

from __future__ import annotations

from certlife.projections.base import Projection
from certlife.projections.certificates import CertificatesProjection
from certlife.projections.errors import UnknownProjection
from certlife.projections.history import HistoryProjection

#: Every projection the projection process runs, by name.
PROJECTIONS: dict[str, Projection] = {p.name: p for p in (CertificatesProjection(), HistoryProjection())}


def projection(name: str) -> Projection:
    """The projection called ``name``."""
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise UnknownProjection(f"no projection {name!r} (known: {', '.join(PROJECTIONS)})") from None
