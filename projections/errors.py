"""The projections layer's one error hierarchy (under :class:`~certlife.domain.errors.CertlifeError`)."""

from __future__ import annotations

from certlife.domain.errors import CertlifeError


class ProjectionError(CertlifeError):
    """Base of every error raised by the read models."""

    code = "projection-error"


class UnknownProjection(ProjectionError):
    """A projection name that is not defined."""

    code = "unknown-projection"


class RebuildBusy(ProjectionError):
    """Another rebuild of the same projection holds its lock."""

    code = "rebuild-busy"


class LogGap(ProjectionError):
    """A batch starts past the next expected log index (the consumer must seek back)."""

    code = "log-gap"
