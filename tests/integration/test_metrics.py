"""Metrics, health and readiness of every service, as real processes on the real broker and PostgreSQL.

The command service, relay, projections, publisher (with one certlife witness)
and the tiles server run as ``certctl serve …`` processes; each one's
``/metrics`` is scraped and parsed with Prometheus's text parser, ``/healthz``
and ``/readyz`` are asked, commands are published, and the values are shown to
move: outcomes counted by code, the log growing, every projection catching up
(lag back to 0), the tiles following, the witness cosigning.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from certlife.contracts import topics
from certlife.services.demo.scenario import generate_commands
from tests.integration.test_publisher import Witness
from tests.integration.test_relay import certctl, stack_env, trust_of
from tests.kafka import client
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration

ISSUER = "certlife.example"
N_MESSAGES = 600
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metrics_url(process: ServiceProcess, timeout: float = 60) -> str:
    """The ``metrics on http://…`` address a non-HTTP service announces."""
    process.wait_for_log("metrics on http://", timeout)
    found = re.search(r"metrics on (http://127\.0\.0\.1:\d+)", process.log_text())
    assert found, process.log_text()[-2000:]
    return found[1]


def scrape(url: str) -> Samples:
    """Every sample of ``url``/metrics, parsed by prometheus_client's parser."""
    response = httpx.get(url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def ready(url: str, state: str, timeout: float = 60) -> None:
    """Wait for ``/readyz`` to answer 200 with ``state`` (503 until ready); ``/healthz`` answers 200 meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
        answer = httpx.get(url + "/readyz", timeout=5)
        if answer.status_code == 200 and answer.json() == {"ready": True, "state": state}:
            return
        assert answer.json()["ready"] is (answer.status_code == 200)
        assert time.monotonic() < deadline, f"{url} not ready: {answer.text}"
        time.sleep(0.1)


async def until(check: Callable[[], bool], what: str, seen: object = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"{what}: {seen}"
        await asyncio.sleep(0.3)


async def publish_commands(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**client(bootstrap))
    await producer.start()
    try:
        for key, body in messages:
            await producer.send(topic, body, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def test_every_service_reports_metrics_health_and_readiness_and_the_values_move(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    prefix = unique_name("metrics") + "."
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    witness_file = tmp_path / "witnesses.txt"
    env = stack_env(
        kafka_bootstrap, database_url, pg_schema, prefix, tmp_path / "keys",
        CERTLIFE_ISSUER=ISSUER, CERTLIFE_TILES_DIR=str(tiles), CERTLIFE_WITNESSES_FILE=str(witness_file),
        CERTLIFE_METRICS_PORT="0",
    )  # fmt: skip
    assert certctl(env, "keys", "generate").returncode == 0
    trust = trust_of(env)
    witness = Witness(
        {**env, "CERTLIFE_KEYS_DIR": str(tmp_path / "w-keys"), "CERTLIFE_DB_SCHEMA": f"{pg_schema}_w"},
        tmp_path / "witness.log",
    ).setup("w1.metrics.test", trust.origin, trust.note_keys[0])
    witness.start()
    witness_file.write_text(f"witness w1 {witness.vkey} {witness.url}\nquorum none\n")
    names = ("commands", "relay", "projections", "publisher")
    procs = {name: ServiceProcess(name, env, tmp_path).start() for name in names}
    tiles_server = ServiceProcess("tiles", env, tmp_path, args=[str(tiles), "--port", "0"]).start()
    standby = ServiceProcess("commands", env, tmp_path, tag="-standby")
    try:
        urls = {name: metrics_url(proc) for name, proc in procs.items()}
        urls["tiles"] = tiles_server.listening_url()
        urls["witness"] = witness.url
        for name, state in [("commands", "active"), ("relay", "active"), ("projections", "ready"),
                            ("publisher", "ready"), ("tiles", "ready"), ("witness", "ready")]:  # fmt: skip
            ready(urls[name], state)
        standby.start()  # a second command service waits for the lock: ready, reporting standby
        ready(metrics_url(standby), "standby")
        before = {name: scrape(url) for name, url in urls.items()}
        assert total(before["commands"], "certlife_command_outcomes_total") == 0
        assert value(before["relay"], "certlife_log_size") == 0
        assert value(before["publisher"], "certlife_tiles_size") == 0
        assert value(before["commands"], "process_cpu_seconds_total") > 0  # the process collectors too

        messages = generate_commands(
            200, seed=13, issuer=ISSUER, now=datetime.now(UTC), duplicates=0.1, conflicts=0.2, malformed=0.05
        )[:N_MESSAGES]
        commands_topic = prefix + topics.COMMANDS
        await publish_commands(kafka_bootstrap, commands_topic, messages)

        # The command service: every message in a batch, answered by status and code; no lag left.
        def commands_done() -> bool:
            now = scrape(urls["commands"])
            return value(now, "certlife_command_batch_size_sum") == len(messages) and (
                total(now, "certlife_consumer_lag", topic=commands_topic) == 0
            )

        await until(commands_done, "the command service did not consume every command")
        cmd = scrape(urls["commands"])
        accepted = total(cmd, "certlife_command_outcomes_total", status="accepted")
        rejected = total(cmd, "certlife_command_outcomes_total", status="rejected")
        dead = total(cmd, "certlife_command_dead_letters_total")
        assert accepted > 100 and rejected > 0 and dead > 0, (accepted, rejected, dead)
        assert value(cmd, "certlife_command_outcomes_total", status="accepted", code="issued") > 0
        assert accepted + rejected <= len(messages) <= accepted + rejected + dead
        assert value(cmd, "certlife_command_batch_seconds_count", phase="store") >= 1
        assert value(cmd, "certlife_command_batch_seconds_count", phase="publish") >= 1

        # The relay signs every event; projections and tiles follow the log to its end.
        seen: dict[str, object] = {}

        def caught_up() -> bool:
            relay, projections = scrape(urls["relay"]), scrape(urls["projections"])
            size = value(relay, "certlife_log_size")
            applied = [v for (n, _), v in projections.items() if n == "certlife_projection_log_size"]
            lags = [v for (n, _), v in projections.items() if n == "certlife_projection_lag"]
            seen.update(
                size=size, accepted=accepted, checkpoint=value(relay, "certlife_checkpoint_size"),
                applied=applied, lags=lags, tiles=value(scrape(urls["publisher"]), "certlife_tiles_size"),
            )  # fmt: skip
            return (
                size > 100  # duplicates are answered again, not stored again: fewer records than accepted
                and value(relay, "certlife_checkpoint_size") == size
                and bool(applied)
                and all(a == size for a in applied)
                and all(lag == 0 for lag in lags)
                and value(scrape(urls["publisher"]), "certlife_tiles_size") == size
            )

        await until(caught_up, "the log, the read models and the tiles did not reach the same size", seen)
        relay = scrape(urls["relay"])
        size = value(relay, "certlife_log_size")
        assert value(relay, "certlife_log_records_published_total") == size
        assert value(relay, "certlife_relay_batch_size_sum") == size
        assert value(relay, "certlife_relay_batch_seconds_count") >= 1
        assert 0 <= value(relay, "certlife_checkpoint_age_seconds") < 120
        projections = scrape(urls["projections"])
        assert value(projections, "certlife_projection_batch_seconds_count") >= 1
        assert total(projections, "certlife_consumer_lag", topic=prefix + topics.LOG) == 0
        assert {ls for (n, ls) in projections if n == "certlife_consumer_lag"}, "no consumer lag reported"

        # The witness cosigns; the publisher counts it and times the request; the witness times its side.
        def cosigned() -> bool:
            return (
                value(
                    scrape(urls["publisher"]), "certlife_cosignatures_total", witness="w1", result="cosigned"
                )
                > 0
            )

        await until(cosigned, "no cosignature counted")
        publisher = scrape(urls["publisher"])
        assert value(publisher, "certlife_witness_request_seconds_count", witness="w1") >= 1
        assert value(publisher, "certlife_tiles_checkpoint_size") > 0
        log_lag = ("certlife_consumer_lag", frozenset({("topic", prefix + topics.LOG), ("partition", "0")}))
        assert publisher[log_lag] == 0  # present, and nothing left to read
        seen_by_witness = scrape(urls["witness"])
        assert value(seen_by_witness, "certlife_http_request_seconds_count",
                     route="/add-checkpoint", method="POST", status="200") >= 1  # fmt: skip

        # The tiles server times what it serves, by route template.
        assert httpx.get(urls["tiles"] + "/checkpoint", timeout=5).status_code == 200
        assert httpx.get(urls["tiles"] + "/no/such/thing", timeout=5).status_code == 404
        served = scrape(urls["tiles"])
        assert value(served, "certlife_http_request_seconds_count", route="/{path:path}", method="GET",
                     status="200") >= 1  # fmt: skip
        assert value(served, "certlife_http_request_seconds_count", route="/{path:path}", method="GET",
                     status="404") >= 1  # fmt: skip

        # A clean stop: the metrics server ends with its service.
        for proc in (standby, *procs.values(), tiles_server):
            assert proc.stop() == 0, proc.log_text()[-2000:]
    finally:
        for proc in (standby, *procs.values(), tiles_server):
            proc.kill()
        witness.kill()
    for proc in procs.values():
        assert "Traceback" not in proc.log_text(), proc.log_text()[-3000:]
