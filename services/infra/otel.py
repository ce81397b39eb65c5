"""Span export: off unless ``OTEL_TRACES_EXPORTER`` names an exporter (OpenTelemetry's own variable).

``certctl serve SERVICE`` calls :func:`configure` once, before the service
starts. With ``OTEL_TRACES_EXPORTER`` unset or ``none`` nothing is installed:
the OpenTelemetry API stays a no-op, trace context is only carried (see
``certlife.services.infra.tracing``). ``otlp`` sends spans over OTLP/HTTP
(protobuf) to ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``http://localhost:4318``; the
exporter reads the standard ``OTEL_EXPORTER_OTLP_*`` variables, headers and
certificates included); ``console`` writes one JSON object per span to
standard error. Spans are batched (``OTEL_BSP_*``) and flushed when the process
exits. The service name is ``OTEL_SERVICE_NAME`` or ``certlife-SERVICE``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from certlife.domain.errors import CertlifeError

#: The values ``OTEL_TRACES_EXPORTER`` may take.
EXPORTERS = ("none", "otlp", "console")


class ExporterError(CertlifeError, code="traces-exporter"):
    """``OTEL_TRACES_EXPORTER`` names no exporter certlife has, or its packages are missing (one line)."""


def configure(service: str, env: Mapping[str, str] = os.environ) -> str:
    """Install the span exporter ``OTEL_TRACES_EXPORTER`` names for ``service``; return its name.

    Raises :class:`ExporterError` for an unknown name (a comma-separated list
    is refused too: one exporter per process) or when the SDK is not installed.
    """
    name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "none"
    if name not in EXPORTERS:
        raise ExporterError(
            f"OTEL_TRACES_EXPORTER={name!r} is not one of {', '.join(EXPORTERS)} (default none: no export)"
        )
    if name == "none":
        return name
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ExporterError(
            "exporting spans needs the OpenTelemetry SDK: pip install 'certlife[service]'"
        ) from None
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or f"certlife-{service}"})
    )
    provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    return name


def _exporter(name: str) -> Any:
    """The span exporter called ``name`` (``otlp`` or ``console``)."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr, formatter=_one_line)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ExporterError(
            "OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http: "
            "pip install 'certlife[service]'"
        ) from None
    return OTLPSpanExporter()


def _one_line(span: Any) -> str:
    """A span as one line of JSON (the SDK's default is indented over many lines)."""
    return json.dumps(json.loads(span.to_json()), separators=(",", ":")) + "\n"
