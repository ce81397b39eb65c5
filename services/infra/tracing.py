"""W3C trace context (``traceparent``) carried in Kafka headers, through the OpenTelemetry API.

A command's ``traceparent`` header, or a new trace when it has none or an
invalid one, goes on to the messages the command causes (its outcome, its
dead letter), so one trace id follows a command through certlife. Only the
OpenTelemetry API is used: with no SDK configured nothing is recorded or
exported, the context is only propagated. With an SDK installed and
configured (``OTEL_*``), :func:`context` gives the parent context to start
spans under.

Kept cheap on the hot path: a valid incoming header is passed on as is (one
regular-expression match), a new one is 24 random bytes in hex.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

#: The Kafka header (and HTTP header) name, W3C Trace Context.
TRACEPARENT = "traceparent"

_PROPAGATOR = TraceContextTextMapPropagator()
# version 00 (or a later one, read as 00): trace id and parent id not all zeros.
_VALID = re.compile(rb"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


def header(headers: Iterable[tuple[str, bytes]] | None) -> bytes | None:
    """The ``traceparent`` value among Kafka ``headers``, if any."""
    for name, value in headers or ():
        if name == TRACEPARENT:
            return value
    return None


def new() -> bytes:
    """A ``traceparent`` starting a new trace (random ids; not sampled: nothing records it here).

    Formatted directly (version 00), not through the propagator: this runs for
    every command that comes without one.
    """
    ids = os.urandom(24)
    while not any(ids[:16]) or not any(ids[16:]):  # all-zero ids are invalid
        ids = os.urandom(24)
    return b"00-%s-%s-00" % (ids[:16].hex().encode(), ids[16:].hex().encode())


def carried(value: bytes | None) -> bytes:
    """The ``traceparent`` to pass on: ``value`` when it is a valid one, else a new trace."""
    if value is not None and len(value) == 55 and _VALID.fullmatch(value):
        return value
    return new()


def trace_id(value: bytes) -> str:
    """The trace id (32 hex digits) of a ``traceparent``."""
    return value[3:35].decode()


def context(value: bytes) -> Context:
    """The OpenTelemetry context a ``traceparent`` names (the parent of spans started under it)."""
    return _PROPAGATOR.extract({TRACEPARENT: value.decode("ascii", "replace")})
