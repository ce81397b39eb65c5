"""Issue 17 on the real broker and database: a published record nobody can store stops nothing.

A validly signed, chained and checkpointed log holds records the admission rule
forbids (U+0000 in a holder, in a suspension reason) and one PostgreSQL refuses
(a holder that is not a string), among valid records. Both projections and the
partner mirror park exactly those records (index and reason reported), mark the
certificate unavailable, and apply every other record; nothing crashes or retries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from certlife.contracts.records import parse_record
from certlife.projections.apply import write_with_parking
from certlife.projections.config import ProjectionConfig
from certlife.projections.mirror_store import MirrorStore
from certlife.projections.parking import DATABASE_REFUSED, split_admissible
from certlife.projections.registry import PROJECTIONS
from certlife.projections.tracking import create_tracking, ensure_projection
from tests.integration.test_mirror import publish
from tests.integration.test_projections import snapshot, wait_applied
from tests.integration.test_relay import certctl, stack_env
from tests.kafka import admin_env
from tests.procs import ROOT, ServiceProcess
from tests.unit.logbuilder import LogBuilder
from tests.unit.test_parking import NUL_HOLDER, append_unchecked

pytestmark = pytest.mark.integration

ISSUER = "certlife.example"
#: Index -> reason code of every record the content rule parks (all three readers).
INADMISSIBLE = {3: "inadmissible-text", 5: "inadmissible-text", 6: "inadmissible-text"}
#: The record whose holder is a number: admissible, but the ``certificates`` text column refuses it.
REFUSED = 9
LAST = 10


def poisoned_log() -> LogBuilder:
    """Eleven records, checkpointed at 6 and 11; see INADMISSIBLE and REFUSED."""
    b = LogBuilder()
    b.add("C-0000", "issued", "valid")  # 0
    b.add("C-0001", "issued", "valid")  # 1
    b.add("C-0002", "issued", "valid")  # 2
    append_unchecked(b, "BAD-1", "issued", "valid", holder=NUL_HOLDER)  # 3
    b.add("C-0001", "suspended", "suspended", reason="audit")  # 4
    append_unchecked(b, "BAD-1", "revoked", "revoked", reason="fraud", holder=NUL_HOLDER)  # 5
    b.checkpoint()
    append_unchecked(b, "C-0002", "suspended", "suspended", reason="audit\u0000")  # 6
    b.add("C-0000", "amended", "valid")  # 7
    b.add("C-0002", "reinstated", "valid")  # 8: a clean record after a parked one
    append_unchecked(b, "HOLD-1", "issued", "valid", holder=42)  # 9
    b.add("C-0003", "issued", "valid")  # 10
    b.checkpoint()
    return b


async def _publish(kafka_bootstrap: str, prefix: str, b: LogBuilder) -> None:
    await publish(kafka_bootstrap, prefix, b.records, [note for _, note in b.checkpoints])


def _certverify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certlife.services.partner.certverify", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **admin_env()},
    )


async def _rows(database_url: str, sql: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [dict(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def test_projections_park_exactly_the_poisoned_records_and_apply_the_rest(
    kafka_bootstrap: str, database_url: str, pg_schema: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    prefix = unique_name("park") + "."
    env = stack_env(kafka_bootstrap, database_url, pg_schema, prefix, tmp_path / "keys")
    await _publish(kafka_bootstrap, prefix, poisoned_log())
    proj = ServiceProcess("projections", env, tmp_path).start()
    await wait_applied(env, LAST, LAST + 1)

    s = f'"{pg_schema}"'
    parked = await _rows(
        database_url, f"SELECT name, generation, log_index, number, code, raw FROM {s}.projection_parked"
    )
    expected = {("history", i, c) for i, c in INADMISSIBLE.items()}
    expected |= {("certificates", i, c) for i, c in INADMISSIBLE.items()} | {
        ("certificates", REFUSED, DATABASE_REFUSED)
    }
    assert {(p["name"], p["log_index"], p["code"]) for p in parked} == expected
    log = poisoned_log().records
    assert all(p["raw"] == log[p["log_index"]] and p["generation"] == 1 for p in parked)
    assert {p["log_index"]: p["number"] for p in parked} == {3: "BAD-1", 5: "BAD-1", 6: "C-0002", 9: "HOLD-1"}

    snap = await snapshot(env)
    current = {r["number"]: r for r in snap["current"]}
    assert {n: (r["status"], r["seq"], r["log_index"], r["parked_index"]) for n, r in current.items()} == {
        "C-0000": ("valid", 2, 7, None),
        "C-0001": ("suspended", 2, 4, None),
        "C-0002": ("valid", 3, 8, None),  # parked at 6, available again after 8
        "C-0003": ("valid", 1, 10, None),
        "BAD-1": ("unavailable", None, 5, 5),  # nothing of it ever applied
        "HOLD-1": ("unavailable", None, 9, 9),
    }
    assert current["C-0001"]["suspension_reason"] == "audit"
    assert current["BAD-1"]["holder"] is None
    history = {r["log_index"]: r for r in snap["history"]}
    assert sorted(history) == list(range(LAST + 1))
    assert {i for i, r in history.items() if r["status"] == "unavailable"} == set(INADMISSIBLE)
    assert history[6]["number"] == "C-0002" and history[6]["parked_index"] == 6
    assert history[REFUSED]["status"] == "valid"  # history stores no holder column

    # The operator's views.
    shown = json.loads(certctl(env, "projections", "status", "--json").stdout)["projections"]
    by_name = {p["name"]: p for p in shown}
    assert by_name["certificates"]["parked"]["count"] == 4 and by_name["history"]["parked"]["count"] == 3
    assert [(r["index"], r["code"]) for r in by_name["certificates"]["parked"]["records"]] == [
        (3, "inadmissible-text"),
        (5, "inadmissible-text"),
        (6, "inadmissible-text"),
        (REFUSED, DATABASE_REFUSED),
    ]
    assert "U+0000" in by_name["history"]["parked"]["records"][0]["message"]
    table = certctl(env, "projections", "status")
    assert "parked index 9 certificate HOLD-1: database-refused" in table.stdout, table.stdout
    answer = certctl(env, "status", "BAD-1", "--json")
    assert answer.returncode == 1, answer.stderr
    data = json.loads(answer.stdout)
    assert (data["status"], data["index"], data["checkpoint"]) == ("unavailable", 5, LAST + 1)
    assert data["parked"]["code"] == "inadmissible-text" and "record 5 parked" in data["note"]
    human = certctl(env, "status", "BAD-1")
    assert human.returncode == 1 and human.stdout.startswith(
        "BAD-1: unavailable (index 5, checkpoint 11) - record 5 parked: inadmissible-text: "
    ), human.stdout
    assert certctl(env, "status", "C-0002").returncode == 0

    # Logged once each, no failed batch, no retry loop; a restart parks nothing again.
    text = proj.log_text()
    assert "batch failed" not in text and "Traceback" not in text, text[-3000:]
    assert text.count("record 3 (certificate BAD-1) parked") == 2  # once per projection
    proj.stop()
    proj.start()
    proj.wait_for_log("resumes at offset", 60)
    await wait_applied(env, LAST, LAST + 1)
    assert proj.log_text().count("record 3 (certificate BAD-1) parked") == 2
    assert len(await _rows(database_url, f"SELECT * FROM {s}.projection_parked")) == len(expected)
    proj.stop()

    # A rebuild replays the log into a new generation: the same rows, the same parked records.
    for name in ("certificates", "history"):
        result = certctl(env, "projections", "rebuild", name, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["parked"] == (4 if name == "certificates" else 3)
    assert await snapshot(env) == snap
    again = await _rows(database_url, f"SELECT name, generation, log_index, code FROM {s}.projection_parked")
    assert {(p["name"], p["log_index"], p["code"]) for p in again} == expected
    assert {p["generation"] for p in again} == {2}


async def test_partner_mirror_parks_the_poisoned_records_and_answers_unavailable(
    kafka_bootstrap: str, database_url: str, pg_schema: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    b = poisoned_log()
    prefix = unique_name("parkmirror") + "."
    await _publish(kafka_bootstrap, prefix, b)
    trust = tmp_path / "trust.json"
    trust.write_bytes(b.trust().to_bytes())
    mirror = [
        "mirror",
        "--bootstrap",
        kafka_bootstrap,
        "--database",
        database_url,
        "--trust",
        str(trust),
        "--schema",
        pg_schema,
        "--topic-prefix",
        prefix,
        "--once",
        "--json",
    ]
    result = _certverify(*mirror)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["failure"] is None
    assert (report["records"], report["checkpointSize"]) == (LAST + 1, LAST + 1)
    assert report["applied"] == LAST + 1 - len(INADMISSIBLE)
    parked = report["parked"]
    assert (parked["count"], parked["thisRun"]) == (3, 3)
    assert {r["index"]: r["code"] for r in parked["records"]} == INADMISSIBLE
    assert [r["certificate"] for r in parked["records"]] == ["BAD-1", "BAD-1", "C-0002"]
    assert "3 verified record(s) parked, not applied: index 3 (inadmissible-text)" in result.stderr

    s = f'"{pg_schema}"'
    rows = await _rows(
        database_url, f"SELECT number, status, log_index, parked_index FROM {s}.mirror_certificates"
    )
    assert {r["number"]: (r["status"], r["log_index"], r["parked_index"]) for r in rows} == {
        "C-0000": ("valid", 7, None),
        "C-0001": ("suspended", 4, None),
        "C-0002": ("valid", 8, None),
        "C-0003": ("valid", 10, None),
        "BAD-1": ("unavailable", 5, 5),
        "HOLD-1": ("valid", 9, None),  # jsonb takes a number: the mirror stores it
    }
    history = await _rows(database_url, f"SELECT log_index, status FROM {s}.mirror_history ORDER BY 1")
    assert [r["log_index"] for r in history] == list(range(LAST + 1))
    assert {r["log_index"] for r in history if r["status"] == "unavailable"} == set(INADMISSIBLE)
    kept = await _rows(database_url, f"SELECT log_index, raw FROM {s}.mirror_parked ORDER BY 1")
    assert [(r["log_index"], r["raw"]) for r in kept] == [(i, b.records[i]) for i in sorted(INADMISSIBLE)]

    status = _certverify("status", "BAD-1", "--database", database_url, "--schema", pg_schema, "--json")
    assert status.returncode == 1, status.stderr
    answer = json.loads(status.stdout)
    assert answer["answer"]["status"] == "unavailable" and answer["answer"]["index"] == 5
    assert answer["answer"]["parked"]["code"] == "inadmissible-text"
    assert answer["failure"]["code"] == "record-parked"
    fine = _certverify("status", "C-0002", "--database", database_url, "--schema", pg_schema, "--json")
    assert fine.returncode == 0 and json.loads(fine.stdout)["answer"]["status"] == "valid"

    # A second run re-verifies everything, applies and parks nothing twice.
    again = json.loads(_certverify(*mirror).stdout)
    assert (again["applied"], again["parked"]["count"], again["parked"]["thisRun"]) == (0, 3, 0)
    assert len(await _rows(database_url, f"SELECT * FROM {s}.mirror_parked")) == 3


async def test_records_postgresql_refuses_are_parked_once(database_url: str, pg_schema: str) -> None:
    """Past the content check (as if the rule missed something): the savepoints park what PostgreSQL
    refuses, write the rest, and a redelivered batch changes nothing."""
    b = LogBuilder()
    for i in range(6):
        b.add(f"C-{i:04d}", "issued", "valid")
    append_unchecked(b, "BAD-1", "issued", "valid", holder=NUL_HOLDER)  # 6
    for i in range(6, 9):
        b.add(f"C-{i:04d}", "issued", "valid")
    records = [parse_record(r) for r in b.records]
    s = f'"{pg_schema}"'
    config = ProjectionConfig("unused:9092", database_url, db_schema=pg_schema, issuer=ISSUER)
    conn = await asyncpg.connect(database_url)
    try:
        await create_tracking(conn, s)
        for projection in PROJECTIONS.values():
            await ensure_projection(conn, s, projection)
            for attempt in range(2):
                async with conn.transaction():
                    first = await write_with_parking(conn, config, projection, 1, records, [])
                assert [(p.index, p.code) for p in first] == ([(6, DATABASE_REFUSED)] if attempt == 0 else [])
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.projection_parked") == 2
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.certificate_history") == len(records)
        current = dict(await conn.fetch(f"SELECT number, status FROM {s}.certificates"))
        assert current == {**{f"C-{i:04d}": "valid" for i in range(9)}, "BAD-1": "unavailable"}
        message = await conn.fetchval(f"SELECT message FROM {s}.projection_parked LIMIT 1")
        assert message.startswith(("SQLSTATE 22021", "SQLSTATE 22P05")), message

        store = MirrorStore(conn, pg_schema)
        await store.create(b.origin)
        for size in (len(records), len(records)):  # the same checkpoint applied twice
            await store.apply(records, size, b"root", None)
        summary = await store.parked()
        assert (summary.count, [r["index"] for r in summary.records]) == (1, [6])
        assert summary.records[0]["code"] == DATABASE_REFUSED
        assert (await store.status("BAD-1") or {})["status"] == "unavailable"
        assert (await store.status("C-0008") or {})["status"] == "valid"
    finally:
        await conn.close()


_OLD_TABLES = """
CREATE TABLE {s}.certificates_g1 (
    number text PRIMARY KEY, certificate_id uuid NOT NULL UNIQUE,
    scheme text NOT NULL, holder text NOT NULL, manufacturer text NOT NULL,
    product text NOT NULL, scope text NOT NULL, factories text[] NOT NULL,
    models text[] NOT NULL, standards text[] NOT NULL,
    valid_from timestamptz NOT NULL, valid_until timestamptz NOT NULL,
    status text NOT NULL, event text NOT NULL, seq integer NOT NULL, reason text,
    effective_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL,
    log_index bigint NOT NULL, suspended_at timestamptz, suspension_reason text,
    certificate jsonb NOT NULL);
CREATE VIEW {s}.certificates AS SELECT * FROM {s}.certificates_g1;
CREATE TABLE {s}.certificate_history_g1 (
    log_index bigint PRIMARY KEY, number text NOT NULL, certificate_id uuid NOT NULL,
    seq integer NOT NULL, event text NOT NULL, status text NOT NULL, reason text,
    effective_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL,
    certificate jsonb NOT NULL);
CREATE VIEW {s}.certificate_history AS SELECT * FROM {s}.certificate_history_g1;
INSERT INTO {s}.projection_live VALUES ('certificates', 1), ('history', 1);
INSERT INTO {s}.projection_state (name, generation) VALUES ('certificates', 1), ('history', 1);
CREATE TABLE {s}.mirror_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    origin text NOT NULL, applied_size bigint NOT NULL, checkpoint_size bigint NOT NULL,
    checkpoint_root bytea, checkpoint_time text, failure jsonb,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE {s}.mirror_certificates (
    number text PRIMARY KEY, status text NOT NULL, seq integer NOT NULL,
    log_index bigint NOT NULL, event text NOT NULL, certificate jsonb NOT NULL,
    effective_at text NOT NULL, recorded_at text NOT NULL, checkpoint_size bigint NOT NULL);
CREATE TABLE {s}.mirror_history (
    log_index bigint PRIMARY KEY, number text NOT NULL, seq integer NOT NULL, event text NOT NULL,
    status text NOT NULL, reason text, effective_at text NOT NULL, recorded_at text NOT NULL);
"""


async def test_tables_of_the_previous_release_are_upgraded_in_place(
    database_url: str, pg_schema: str
) -> None:
    """Read models and a mirror created before parking existed take parked records after a restart."""
    b = poisoned_log()
    applicable, inadmissible = split_admissible(parse_record(r) for r in b.records)
    s = f'"{pg_schema}"'
    config = ProjectionConfig("unused:9092", database_url, db_schema=pg_schema, issuer=ISSUER)
    conn = await asyncpg.connect(database_url)
    try:
        await create_tracking(conn, s)
        await conn.execute(_OLD_TABLES.format(s=s))
        for projection in PROJECTIONS.values():
            assert await ensure_projection(conn, s, projection) == 1  # upgrades generation 1
            await ensure_projection(conn, s, projection)  # and again: nothing to do
            async with conn.transaction():
                await write_with_parking(conn, config, projection, 1, applicable, inadmissible)
        current = dict(await conn.fetch(f"SELECT number, parked_index FROM {s}.certificates"))
        assert current["BAD-1"] == 5 and current["HOLD-1"] == REFUSED and current["C-0002"] is None

        store = MirrorStore(conn, pg_schema)
        await conn.execute(
            f"INSERT INTO {s}.mirror_state (origin, applied_size, checkpoint_size) VALUES ($1, 0, 0)",
            b.origin,
        )
        before = await store.status("BAD-1")  # `certverify status` before the new mirror has run
        assert before is not None and (before["status"], before["parked_index"]) == (None, None)
        await store.create(b.origin)
        parked = await store.apply(applicable, len(b.records), b"root", None, inadmissible)
        assert [p.index for p in parked] == sorted(INADMISSIBLE)
        assert (await store.status("BAD-1") or {})["parked_index"] == 5
    finally:
        await conn.close()
