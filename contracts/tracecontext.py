"""The W3C Trace Context ``traceparent`` header on certlife's Kafka messages, read through OpenTelemetry.

A command's ``traceparent`` (or a new trace) goes on the messages it causes:
its outcome or dead letter, and the log record and domain event of each event
it causes (``certlife.services.infra.tracing`` writes it). Readers of those
messages continue the trace from this header; only the OpenTelemetry API is
used (with no SDK configured nothing is recorded or exported).
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

#: The Kafka header (and HTTP header) name, W3C Trace Context.
TRACEPARENT = "traceparent"

_PROPAGATOR = TraceContextTextMapPropagator()


def header(headers: Iterable[tuple[str, bytes]] | None) -> bytes | None:
    """The ``traceparent`` value among Kafka ``headers``, if any."""
    for name, value in headers or ():
        if name == TRACEPARENT:
            return value
    return None


def context(value: bytes) -> Context:
    """The OpenTelemetry context a ``traceparent`` names (the parent of spans started under it)."""
    return _PROPAGATOR.extract({TRACEPARENT: value.decode("ascii", "replace")})


def trace_ids(values: Iterable[bytes | None]) -> list[str]:
    """The distinct trace ids (32 hex digits, first seen first) of the valid ``traceparent`` ``values``.

    Each value is read through the OpenTelemetry API (:func:`context`), as a
    consumer continuing the trace does; None and invalid values are skipped.
    """
    found: dict[str, None] = {}
    for value in values:
        if value is not None:
            span = trace.get_current_span(context(value)).get_span_context()
            if span.is_valid:
                found.setdefault(trace.format_trace_id(span.trace_id), None)
    return list(found)
