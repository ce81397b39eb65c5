"""The projections layer's one error hierarchy."""

from __future__ import annotations


class ProjectionError(Exception):
    """Base of every error raised by the read models."""


class UnknownProjection(ProjectionError):
    """A projection name that is not defined."""


class RebuildBusy(ProjectionError):
    """Another rebuild of the same projection holds its lock."""


class LogGap(ProjectionError):
    """A batch starts past the next expected log index (the consumer must seek back)."""
