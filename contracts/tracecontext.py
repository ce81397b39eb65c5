"""The W3C Trace Context ``traceparent`` header on certlife's Kafka messages, read through OpenTelemetry.

A command's ``traceparent`` (or a new trace) goes on the messages it causes:
its outcome or dead letter, and the log record and domain event of each event
it causes (``certlife.services.infra.tracing`` writes it). Readers of those
messages continue the trace from this header; only the OpenTelemetry API is
used (with no SDK configured nothing is recorded or exported).

With an SDK configured (``certctl serve`` does it when ``OTEL_TRACES_EXPORTER``
names an exporter), :func:`record_span` records the step a process took for a
message as a span under the message's trace; :func:`recording` tells callers
whether to bother, so the hot path pays nothing when exporting is off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

#: The Kafka header (and HTTP header) name, W3C Trace Context.
TRACEPARENT = "traceparent"

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER = trace.get_tracer("certlife")


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


def recording() -> bool:
    """True when an OpenTelemetry SDK is installed as the tracer provider (spans are recorded)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def record_span(
    name: str,
    parent: bytes | None,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, str | int] | None = None,
) -> None:
    """Record one finished span ``name`` under the trace ``parent`` names (a new trace without one).

    ``start_ns``/``end_ns`` are ``time.time_ns()`` values: the work was done for
    a whole batch, and each message's span covers that batch's time. A no-op
    unless an SDK is configured (check :func:`recording` first to skip building
    the arguments).
    """
    parent_context = context(parent) if parent is not None else None
    span = _TRACER.start_span(
        name,
        context=parent_context,
        kind=trace.SpanKind.CONSUMER,
        start_time=start_ns,
        attributes=dict(attributes or {}),
    )
    span.end(end_time=end_ns)
