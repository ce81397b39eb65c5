"""certlife's Prometheus metrics: one registry per process, every metric defined here.

Each service asks for its own group once (``commands()``, ``relay()``,
``projections()``, ``publisher()``, ``http()``, ``consumer_lag()``): a group
registers its metrics in the process's :data:`REGISTRY` the first time it is
asked for, so a process exposes only what it measures (plus the standard
``process_*`` and ``python_*`` collectors). Hot paths pay a counter increment
or a histogram observation per batch, not per record; what can be read when
Prometheus scrapes (log size, checkpoint age, consumer lag) is read then.
The HTTP side (``/metrics``, ``/healthz``, ``/readyz``, the latency
middleware and the small server of the non-HTTP services) is
:mod:`certlife.services.infra.health`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

__all__ = ["REGISTRY", "commands", "consumer_lag", "exposition", "http", "projections", "publisher", "relay"]

#: The process's registry (not prometheus_client's global one: only what this module defines).
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

#: Buckets of batch sizes (messages or records per batch) and of durations in seconds.
BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

#: Refreshers run before each scrape (values read from a live object, e.g. consumer lag).
_refreshers: list[Callable[[], Awaitable[None]]] = []


async def exposition() -> bytes:
    """The registry in the Prometheus text format, after refreshing what is read at scrape time."""
    for refresh in list(_refreshers):
        with contextlib.suppress(Exception):  # a scrape never fails on one stale probe
            await asyncio.wait_for(refresh(), 2.0)
    return generate_latest(REGISTRY)


class CommandMetrics:
    """The command service: outcomes by status and code, dead letters, batch sizes and durations."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the command service's metrics in ``registry``."""
        self.outcomes = Counter(
            "certlife_command_outcomes",
            "Commands answered, by status (accepted/rejected) and code "
            "(the event for an accepted command, the rejection code otherwise)",
            ["status", "code"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "certlife_command_dead_letters",
            "Malformed commands sent to the dead-letter topic, by code",
            ["code"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "certlife_command_batch_size", "Commands per batch", buckets=BATCH_SIZES, registry=registry
        )
        self.batch_seconds = Histogram(
            "certlife_command_batch_seconds",
            "Seconds per batch: store (deciding it, and the previous batch's event-store transaction "
            "meanwhile) and publish (Kafka transaction)",
            ["phase"],
            buckets=SECONDS,
            registry=registry,
        )

    def count(self, outcomes: Iterable[tuple[str, str]], dead: Iterable[str]) -> None:
        """Count one batch's ``(status, code)`` outcomes and dead-letter codes (one increment per label)."""
        for (status, code), n in Tally(outcomes).items():
            self.outcomes.labels(status, code).inc(n)
        for code, n in Tally(dead).items():
            self.dead_letters.labels(code).inc(n)


class RelayMetrics:
    """The relay: log size, records published, batches, checkpoint size and age."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the relay's metrics in ``registry``."""
        self.log_size = Gauge("certlife_log_size", "Records in the published log", registry=registry)
        self.records = Counter(
            "certlife_log_records_published", "Records published by this process", registry=registry
        )
        self.batch_size = Histogram(
            "certlife_relay_batch_size",
            "Records per relay transaction",
            buckets=BATCH_SIZES,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "certlife_relay_batch_seconds",
            "Seconds per relay Kafka transaction (and state update)",
            buckets=SECONDS,
            registry=registry,
        )
        self.checkpoint_size = Gauge(
            "certlife_checkpoint_size", "Tree size of the newest published checkpoint", registry=registry
        )
        self.checkpoint_age = Gauge(
            "certlife_checkpoint_age_seconds",
            "Seconds since the newest checkpoint was published (NaN before the first)",
            registry=registry,
        )
        self._checkpoint_at: Callable[[], float] = lambda: 0.0
        self.checkpoint_age.set_function(self._age)

    def _age(self) -> float:
        at = self._checkpoint_at()
        return time.time() - at if at > 0 else math.nan

    def watch(self, checkpoint_at: Callable[[], float]) -> None:
        """Read the newest checkpoint's publication time (epoch seconds, 0: none) at each scrape."""
        self._checkpoint_at = checkpoint_at


class ProjectionMetrics:
    """The projections: applied log size and lag per projection, parked records, batches."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the projections' metrics in ``registry``."""
        self.applied_size = Gauge(
            "certlife_projection_log_size",
            "Log records applied (or parked) by each projection",
            ["projection"],
            registry=registry,
        )
        self.lag = Gauge(
            "certlife_projection_lag",
            "Log records behind: the newest log size seen (records read, checkpoints) minus those applied",
            ["projection"],
            registry=registry,
        )
        self.parked = Counter(
            "certlife_projection_parked", "Records parked (not applicable)", ["projection"], registry=registry
        )
        self.batch_size = Histogram(
            "certlife_projection_batch_size", "Messages per batch", buckets=BATCH_SIZES, registry=registry
        )
        self.batch_seconds = Histogram(
            "certlife_projection_batch_seconds",
            "Seconds per batch transaction (every projection)",
            buckets=SECONDS,
            registry=registry,
        )
        self._newest = 0
        self._applied: dict[str, int] = {}

    def read(self, newest: int) -> None:
        """A batch was read: the log holds at least ``newest`` records."""
        if newest > self._newest:
            self._newest = newest
            for name, log_size in self._applied.items():
                self.lag.labels(name).set(newest - log_size)

    def applied(self, messages: int, seconds: float, positions: dict[str, tuple[int, int, int]]) -> None:
        """A batch committed: ``positions[name] = (log size applied, newest checkpoint size, parked now)``."""
        self.batch_size.observe(messages)
        self.batch_seconds.observe(seconds)
        for name, (log_size, checkpoint, parked) in positions.items():
            self._newest = max(self._newest, log_size, checkpoint)
            self._applied[name] = log_size
            self.applied_size.labels(name).set(log_size)
            self.lag.labels(name).set(self._newest - log_size)
            if parked:
                self.parked.labels(name).inc(parked)


class PublisherMetrics:
    """The publisher: tiles size, cosignatures per witness and result, witness request latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the publisher's metrics in ``registry``."""
        self.tiles_size = Gauge("certlife_tiles_size", "Entries written to the tiles", registry=registry)
        self.tiles_checkpoint = Gauge(
            "certlife_tiles_checkpoint_size",
            "Tree size of the tiles' published checkpoint",
            registry=registry,
        )
        self.cosignatures = Counter(
            "certlife_cosignatures",
            "add-checkpoint requests by witness and result (cosigned, conflict, refused, "
            "server-error, timeout, unreachable, bad-answer)",
            ["witness", "result"],
            registry=registry,
        )
        self.witness_seconds = Histogram(
            "certlife_witness_request_seconds",
            "Seconds per add-checkpoint request, by witness",
            ["witness"],
            buckets=SECONDS,
            registry=registry,
        )


class HttpMetrics:
    """HTTP servers (API, witness, tiles): request latency by route template, method and status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the HTTP metrics in ``registry``."""
        self.seconds = Histogram(
            "certlife_http_request_seconds",
            "Seconds per HTTP request, by route template, method and status",
            ["route", "method", "status"],
            buckets=SECONDS,
            registry=registry,
        )


class ConsumerLag:
    """Messages not yet consumed per assigned partition, read from live Kafka consumers at each scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the lag gauge in ``registry`` and refresh it before each scrape."""
        self.gauge = Gauge(
            "certlife_consumer_lag",
            "Messages behind the partition's last stable offset (read committed), by topic and partition",
            ["topic", "partition"],
            registry=registry,
        )
        self._sources: list[Callable[[], Iterable[Any]]] = []
        _refreshers.append(self.refresh)

    def watch(self, consumers: Callable[[], Iterable[Any]]) -> None:
        """Read the aiokafka consumers ``consumers()`` returns (None entries skipped) at each scrape."""
        self._sources.append(consumers)

    async def refresh(self) -> None:
        """Set the gauge from every watched consumer's position and last stable offset."""
        for source in self._sources:
            for consumer in source():
                if consumer is None:
                    continue
                for tp in consumer.assignment():
                    end = consumer.last_stable_offset(tp)
                    if end is None:
                        end = consumer.highwater(tp)
                    if end is None:
                        continue
                    position = await consumer.position(tp)
                    self.gauge.labels(tp.topic, str(tp.partition)).set(max(0, end - position))


@functools.cache
def commands() -> CommandMetrics:
    """The command service's metrics (registered on first use)."""
    return CommandMetrics(REGISTRY)


@functools.cache
def relay() -> RelayMetrics:
    """The relay's metrics (registered on first use)."""
    return RelayMetrics(REGISTRY)


@functools.cache
def projections() -> ProjectionMetrics:
    """The projections' metrics (registered on first use)."""
    return ProjectionMetrics(REGISTRY)


@functools.cache
def publisher() -> PublisherMetrics:
    """The publisher's metrics (registered on first use)."""
    return PublisherMetrics(REGISTRY)


@functools.cache
def http() -> HttpMetrics:
    """The HTTP servers' metrics (registered on first use)."""
    return HttpMetrics(REGISTRY)


@functools.cache
def consumer_lag() -> ConsumerLag:
    """The consumer lag gauge (registered on first use)."""
    return ConsumerLag(REGISTRY)
