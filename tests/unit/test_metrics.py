"""The metrics module, the health routes, the HTTP latency middleware and the background metrics server."""

from __future__ import annotations

import logging
import math
import socket

import httpx
import pytest
from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from certlife.services.infra import health, metrics
from certlife.services.infra.settings import Settings, SettingsError

pytestmark = pytest.mark.unit


def sample(name: str, **labels: str) -> float | None:
    """The value of sample ``name`` with exactly ``labels`` in the process registry, None if absent."""
    return metrics.REGISTRY.get_sample_value(name, labels)


def test_command_outcomes_count_by_status_and_code_and_dead_letters_by_code() -> None:
    before = sample("certlife_command_outcomes_total", status="rejected", code="not-found") or 0
    issued = sample("certlife_command_outcomes_total", status="accepted", code="issued") or 0
    metrics.commands().count(
        [("accepted", "issued"), ("rejected", "not-found"), ("rejected", "not-found")],
        ["malformed-json"],
    )
    assert sample("certlife_command_outcomes_total", status="rejected", code="not-found") == before + 2
    assert sample("certlife_command_outcomes_total", status="accepted", code="issued") == issued + 1
    assert (sample("certlife_command_dead_letters_total", code="malformed-json") or 0) >= 1


def test_projection_lag_grows_when_a_batch_is_read_and_falls_to_zero_once_applied() -> None:
    m = metrics.ProjectionMetrics(metrics.CollectorRegistry())
    m.applied(5, 0.01, {"status": (4, 0, 0)})
    assert m.lag.labels("status")._value.get() == 0
    m.read(10)  # records up to index 9 are in flight
    assert m.lag.labels("status")._value.get() == 6
    m.applied(6, 0.01, {"status": (10, 8, 1)})
    assert m.lag.labels("status")._value.get() == 0
    assert m.applied_size.labels("status")._value.get() == 10
    assert m.parked.labels("status")._value.get() == 1


def test_checkpoint_age_is_nan_before_the_first_checkpoint() -> None:
    import time

    m = metrics.RelayMetrics(metrics.CollectorRegistry())
    assert math.isnan(m._age())
    m.watch(lambda: time.time() - 30)
    assert 29 < m._age() < 60


class FakeConsumer:
    """What ConsumerLag reads of an aiokafka consumer."""

    def __init__(self, end: int | None, position: int) -> None:
        self.end, self.at = end, position

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", 0)}

    def last_stable_offset(self, tp: TopicPartition) -> int | None:
        return self.end

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.end

    async def position(self, tp: TopicPartition) -> int:
        return self.at


async def test_consumer_lag_is_read_from_the_consumers_at_scrape_time() -> None:
    consumer = FakeConsumer(120, 100)
    metrics.consumer_lag().watch(lambda: [None, consumer])
    families = {f.name: f for f in text_string_to_metric_families((await metrics.exposition()).decode())}
    lag = [
        s for s in families["certlife_consumer_lag"].samples if s.labels == {"topic": "t", "partition": "0"}
    ]
    assert lag[0].value == 20
    consumer.at = 120
    await metrics.exposition()
    assert sample("certlife_consumer_lag", topic="t", partition="0") == 0


def app() -> Starlette:
    async def item(request: Request) -> Response:
        return PlainTextResponse(request.path_params["id"])

    application = Starlette(routes=[Route("/items/{id}", item)])
    health.install(application)
    return application


async def test_latency_is_labelled_by_route_template_never_by_path() -> None:
    ok = sample("certlife_http_request_seconds_count", route="/items/{id}", method="GET", status="200") or 0
    missing = (
        sample("certlife_http_request_seconds_count", route="unmatched", method="GET", status="404") or 0
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app()), base_url="http://t") as client:
        for n in range(3):
            assert (await client.get(f"/items/{n}")).text == str(n)
        assert (await client.get("/nowhere")).status_code == 404
    assert (
        sample("certlife_http_request_seconds_count", route="/items/{id}", method="GET", status="200")
        == ok + 3
    )
    assert (
        sample("certlife_http_request_seconds_count", route="unmatched", method="GET", status="404")
        == missing + 1
    )
    assert not [s for s in metrics.REGISTRY.collect() for x in s.samples if "/items/1" in str(x.labels)]


async def test_health_routes_metrics_parse_and_readiness_follows_the_state() -> None:
    health.HEALTH.set("starting")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app()), base_url="http://t") as client:
        assert (await client.get("/healthz")).status_code == 200
        starting = await client.get("/readyz")
        assert starting.status_code == 503 and starting.json() == {"ready": False, "state": "starting"}
        health.HEALTH.set("standby")
        standby = await client.get("/readyz")
        assert standby.status_code == 200 and standby.json() == {"ready": True, "state": "standby"}
        scraped = await client.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(scraped.text)}
    assert {"certlife_http_request_seconds", "process_cpu_seconds"} <= names


async def test_background_server_announces_itself_and_answers(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.metrics")
    health.HEALTH.set("active")
    with caplog.at_level(logging.INFO, logger="test.metrics"):
        async with health.serve_metrics("127.0.0.1", 0, log) as url:
            assert url is not None
            assert f"metrics on {url}" in caplog.text
            async with httpx.AsyncClient(base_url=url) as client:
                assert (await client.get("/readyz")).json()["state"] == "active"
                assert "certlife_" in (await client.get("/metrics")).text
    async with health.serve_metrics("127.0.0.1", None, log) as off:
        assert off is None
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    with pytest.raises(
        health.MetricsServeError,
        match=r"^metrics \(CERTLIFE_METRICS_HOST, CERTLIFE_METRICS_PORT\): cannot listen on 127.0.0.1:\d+: ",
    ):
        async with health.serve_metrics("127.0.0.1", taken.getsockname()[1], log):
            pass
    taken.close()


def test_metrics_port_setting() -> None:
    assert Settings.from_env({}).metrics_port == 0
    assert Settings.from_env({}).metrics_host == "127.0.0.1"
    assert Settings.from_env({"CERTLIFE_METRICS_PORT": "off"}).metrics_port is None
    assert Settings.from_env({"CERTLIFE_METRICS_PORT": "9464"}).metrics_port == 9464
    for bad in ("-1", "70000", "http"):
        with pytest.raises(SettingsError, match="CERTLIFE_METRICS_PORT must be a port number"):
            Settings.from_env({"CERTLIFE_METRICS_PORT": bad})


async def test_install_on_a_fastapi_application() -> None:
    """What ``certctl serve api`` does (``install_extra``): the routes answer, latency is by template."""
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/v1/certificates/{number}")
    async def certificate(number: str) -> dict[str, str]:
        return {"number": number}

    health.install(api)
    health.HEALTH.set("ready")
    labels = {"route": "/v1/certificates/{number}", "method": "GET", "status": "200"}
    before = sample("certlife_http_request_seconds_count", **labels) or 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(api), base_url="http://t") as client:
        assert (await client.get("/v1/certificates/CQC-1")).json() == {"number": "CQC-1"}
        assert (await client.get("/readyz")).json() == {"ready": True, "state": "ready"}
        scraped = (await client.get("/metrics")).text
        assert "/metrics" not in (await client.get("/openapi.json")).text  # not in the API's document
    assert sample("certlife_http_request_seconds_count", **labels) == before + 1
    assert 'route="/v1/certificates/{number}"' in scraped
