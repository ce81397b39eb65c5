"""The composition root: the one place that builds certlife's processes.

Nothing here runs at import; each ``build_*`` reads only the ``Settings`` it is
given, so tests call the same functions with their own settings.
"""

from __future__ import annotations

from faststream import FastStream

from services.application import CertificateApplication
from services.config import Settings


def build_application(settings: Settings) -> CertificateApplication:
    """The event-sourced certificate application on PostgreSQL."""
    return CertificateApplication(env=settings.eventsourcing_env())


def build_command_service(settings: Settings) -> FastStream:
    """The Kafka command service (faststream app) around the application."""
    from services.command_service import build_command_service as build

    stream, _ = build(settings, build_application(settings))
    return stream
