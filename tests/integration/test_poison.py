"""Poison input against the real services: the log, the read models and a partner mirror keep going.

The command service, the relay and the projections run as processes on the real
Kafka broker and PostgreSQL server (the main job's set-up). Each poison message
of issue 17 is published, followed at once by a valid command; the poison gets a
rejected outcome with a specific code (or, when its commandId cannot be read, a
dead letter), the valid command is served within seconds, and at the end the
signed log, both read models and a partner's mirror hold exactly the valid
certificates, with every service still running.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from certlife.contracts import topics
from certlife.services.demo import partner, traffic
from certlife.services.demo.setup import DemoRun
from tests.kafka import client

pytestmark = pytest.mark.integration

SERVED_WITHIN = 30.0  # seconds: generous for a loaded CI machine; typical is well under one


def _issue(issuer: str, number: str, cid: str | None = None, **over: Any) -> dict[str, Any]:
    return {
        "type": "issue",
        "commandId": cid or str(uuid.uuid4()),
        "issuer": issuer,
        "number": number,
        "scheme": "CCC",
        "holder": "Voltara GmbH",
        "manufacturer": "Voltara GmbH",
        "factories": ["Plant 1"],
        "product": "EV charger",
        "models": ["DC-120"],
        "standards": ["IEC 61851-1"],
        "scope": "DC charging",
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2036-01-01T00:00:00Z",
        **over,
    }


def _raw(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


def _cases(issuer: str) -> list[tuple[str, bytes, str | None, str | None]]:
    """(name, poison bytes, its commandId when readable, the rejection code expected)."""
    first = _issue(issuer, "CCC-100", "first-use")
    holder_nul = _issue(issuer, "CCC-101", "holder-nul", holder="Volt\u0000ara")
    number_nul = _issue(issuer, "CCC-1\u00002", "number-nul")
    other_issuer = _issue("other.example", "CCC-100", "other-issuer")
    conflict = _issue(issuer, "CCC-103", "first-use")  # commandId of `first`, other content
    cyrillic = _issue(issuer, "\u0421\u0421\u0421-100", "cyrillic")
    nfd_number = _issue(issuer, "A\u0308-1", "nfd-number")
    escape = _issue(issuer, "CCC-104", "escape", holder="\x1b]0;pwned\x07\x1b[2J")
    return [
        ("first use of a commandId (valid)", _raw(first), "first-use", None),
        ("U+0000 in holder", _raw(holder_nul), "holder-nul", "inadmissible-text"),
        ("U+0000 in number", _raw(number_nul), "number-nul", "inadmissible-text"),
        ("another issuer reusing a number", _raw(other_issuer), "other-issuer", "unknown-issuer"),
        ("commandId re-used with other content", _raw(conflict), "first-use", "command-id-conflict"),
        ("Cyrillic look-alike number", _raw(cyrillic), "cyrillic", "number-invalid"),
        ("NFD number", _raw(nfd_number), "nfd-number", "number-invalid"),
        ("terminal escape sequences", _raw(escape), "escape", "inadmissible-text"),
        ("invalid UTF-8 elsewhere", b'{"type":"issue","commandId":"bad-utf8","holder":"\xff"}', "bad-utf8",
         "malformed-json"),
        ("duplicate members", b'{"type":"issue","commandId":"dup","number":"A","number":"B"}', "dup",
         "malformed-json"),
        ("raw NUL byte", b'{"type":"issue","commandId":"raw-nul","holder":"a\x00b"}', "raw-nul",
         "malformed-json"),
        ("no readable commandId", b"\x00\xff garbage", None, None),
    ]  # fmt: skip


async def _outcomes(run: DemoRun, want: set[str], timeout: float) -> dict[str, list[dict[str, Any]]]:
    """Every outcome (in order) of the wanted commandIds, read committed."""
    consumer = AIOKafkaConsumer(
        run.settings.topic(topics.COMMAND_RESULTS),
        **client(run.settings.kafka_bootstrap),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: dict[str, list[dict[str, Any]]] = {}
    try:
        deadline = time.monotonic() + timeout
        while want - got.keys() and time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=200)).values():
                for msg in msgs:
                    body = json.loads(msg.value or b"{}")
                    got.setdefault(body["commandId"], []).append(body)
    finally:
        await consumer.stop()
    return got


async def _wait_read_models(run: DemoRun, numbers: set[str], timeout: float) -> dict[str, str]:
    conn = await asyncpg.connect(run.env["CERTLIFE_DATABASE_URL"])
    schema = run.env["CERTLIFE_DB_SCHEMA"]
    try:
        deadline = time.monotonic() + timeout
        while True:
            current = dict(await conn.fetch(f'SELECT number, status FROM "{schema}".certificates'))
            history = {r[0] for r in await conn.fetch(f'SELECT number FROM "{schema}".certificate_history')}
            if numbers <= current.keys() and numbers <= history:
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"read models lack {sorted(numbers - current.keys())}")
            await asyncio.sleep(0.3)
    finally:
        await conn.close()


async def test_poison_commands_never_stop_the_log_read_models_or_mirror(
    kafka_bootstrap: str, database_url: str
) -> None:
    run = DemoRun.create(kafka_bootstrap, database_url, f"poison{uuid.uuid4().hex[:6]}")
    await run.create_schemas()
    await asyncio.to_thread(run.provision_kafka)  # the services run as their own principals
    run.generate_keys()
    procs = run.start_services()
    issuer = run.settings.issuer
    producer = AIOKafkaProducer(**client(kafka_bootstrap), enable_idempotence=True)
    await producer.start()
    valid_numbers: set[str] = {"CCC-100"}
    try:
        for i, (name, poison, cid, code) in enumerate(_cases(issuer)):
            follow = _issue(issuer, f"OK-{i:03d}", f"follow-{i}")
            valid_numbers.add(follow["number"])
            topic = run.settings.topic(topics.COMMANDS)
            await producer.send_and_wait(topic, poison, key=b"poison")
            sent = time.monotonic()
            await producer.send_and_wait(topic, _raw(follow), key=follow["number"].encode())
            want = {follow["commandId"]} | ({cid} if cid else set())
            got = await _outcomes(run, want, SERVED_WITHIN)
            assert follow["commandId"] in got, f"{name}: the valid command after it was not served"
            assert got[follow["commandId"]][0]["status"] == "accepted", name
            assert time.monotonic() - sent < SERVED_WITHIN
            if cid is None:
                continue
            last = got[cid][-1]
            if code is None:
                assert last["status"] == "accepted", name
            else:
                assert (last["status"], last.get("code")) == ("rejected", code), f"{name}: {last}"
        for proc in procs:
            assert proc.running(), f"{proc.service} stopped:\n{proc.log_text()[-2000:]}"
        size = await traffic.wait_relayed(run.settings, 120)
        assert size == len(valid_numbers)  # exactly the valid certificates were signed into the log
        current = await _wait_read_models(run, valid_numbers, 120)
        assert set(current) == valid_numbers and set(current.values()) == {"valid"}
        steps = partner.partner_steps(run, "CCC-100")
        assert [s.name for s in steps if not s.ok] == [], [s.detail for s in steps]
        total, differ = await partner.compare_statuses(run)
        assert total == len(valid_numbers) and differ == []
    finally:
        await producer.stop()
        for proc in procs:
            proc.kill()
