"""W3C trace context (``traceparent``) carried in Kafka headers, through the OpenTelemetry API.

A command's ``traceparent`` header, or a new trace when it has none or an
invalid one, goes on to the messages the command causes (its outcome, its
dead letter), is stored with the events it causes (:data:`EVENT_ATTRIBUTE`),
goes from there on the relay's log record and domain event messages, and the
projections read it back for the read-model write: one trace id follows a
command through certlife. Reading the header is
``certlife.contracts.tracecontext`` (re-exported here). Only the OpenTelemetry
API is used here: with no exporter configured nothing is recorded or
exported, the context is only propagated. ``certctl serve`` installs the SDK
when ``OTEL_TRACES_EXPORTER`` names an exporter (``certlife.services.infra.otel``);
then the command service, the relay and the projections each record a span
per message under its trace (:func:`record_span`).

Kept cheap on the hot path: a valid incoming header is passed on as is (one
regular-expression match), a new one is 24 bytes of a SHA-256 of the
``commandId`` (random without one) in hex.
"""

from __future__ import annotations

import hashlib
import os
import re

from certlife.contracts.tracecontext import TRACEPARENT, context, header, record_span, recording, trace_ids

__all__ = [
    "EVENT_ATTRIBUTE", "TRACEPARENT", "carried", "context", "header", "new", "record_span", "recording",
    "trace_id", "trace_ids",
]  # fmt: skip

#: The extra attribute of stored events holding the ``traceparent`` (a str) of the command that
#: caused them (``CertificateApplication`` sets it; the relay puts it on the event's messages).
#: Not a field of the events: the domain never sees it, and events stored without it still load.
EVENT_ATTRIBUTE = "traceparent"

# version 00 (or a later one, read as 00): trace id and parent id not all zeros.
_VALID = re.compile(rb"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


def new(seed: str | None = None) -> bytes:
    """A ``traceparent`` starting a new trace (not sampled: nothing records it here).

    Its ids are derived from ``seed`` (a ``commandId``) when given, else random:
    a command re-delivered without a header (after a crash between storing its
    events and publishing its outcome) gets the trace its events were stored
    with, and a replayed command stream stores the same bytes. Formatted
    directly (version 00), not through the propagator: this runs for every
    command that comes without one.
    """
    if seed is None:
        ids = os.urandom(24)
    else:
        ids = hashlib.sha256(b"certlife trace\n" + seed.encode("utf-8", "surrogatepass")).digest()[:24]
    while not any(ids[:16]) or not any(ids[16:]):  # all-zero ids are invalid
        ids = os.urandom(24)
    return b"00-%s-%s-00" % (ids[:16].hex().encode(), ids[16:].hex().encode())


def carried(value: bytes | None, seed: str | None = None) -> bytes:
    """The ``traceparent`` to pass on: ``value`` when it is a valid one, else a new trace (``new(seed)``)."""
    if value is not None and len(value) == 55 and _VALID.fullmatch(value):
        return value
    return new(seed)


def trace_id(value: bytes) -> str:
    """The trace id (32 hex digits) of a ``traceparent``."""
    return value[3:35].decode()
