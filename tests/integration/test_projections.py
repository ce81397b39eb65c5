"""Read models against real Kafka and PostgreSQL: crashes, redelivery, rebalance, rebuild."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from certlife.domain.certificate import Certificate
from certlife.projections.queries import ReadModels
from certlife.services.commands.application import CertificateApplication
from tests.integration.logcheck import check_log
from tests.integration.test_relay import (
    ISSUER,
    certctl,
    lifecycle_commands,
    stack_env,
    store,
    trust_of,
    wait_for_size,
)
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration

#: Certificates reached by each round (issue, suspend, reinstate, amend, revoke): 5,000 events.
ROUND_SIZES = (1200, 1100, 900, 1000, 800)
TOTAL = sum(ROUND_SIZES)


@pytest.fixture
def env(
    kafka_bootstrap: str, database_url: str, pg_schema: str, unique_name: Callable[[str], str], tmp_path: Path
) -> dict[str, str]:
    return stack_env(
        kafka_bootstrap,
        database_url,
        pg_schema,
        unique_name("proj") + ".",
        tmp_path / "keys",
        CERTLIFE_PROJECTION_BATCH="150",
    )


def _wait_consuming(proc: ServiceProcess, starts: int, timeout: float = 60) -> None:
    """Wait until the ``starts``-th instance is active and has been assigned a partition.

    Every start logs "projections active" before joining its groups, so what follows the
    last such line in the (appended) log is the current instance's own.
    """
    deadline = time.monotonic() + timeout
    while True:
        text = proc.log_text()
        if (
            text.count("projections active") >= starts
            and "resumes at offset" in text.rpartition("projections active")[2]
        ):
            return
        assert time.monotonic() < deadline, f"instance {starts} not consuming within {timeout:.0f} s"
        time.sleep(0.05)


async def _position(database_url: str, schema: str, name: str) -> tuple[int, int | None]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            f'SELECT s.log_index, s.checkpoint_size FROM "{schema}".projection_state s '
            f'JOIN "{schema}".projection_live l USING (name, generation) WHERE name = $1',
            name,
        )
        return (-1, None) if row is None else (row["log_index"], row["checkpoint_size"])
    except asyncpg.UndefinedTableError:
        return -1, None
    finally:
        await conn.close()


async def wait_applied(env: dict[str, str], index: int, checkpoint: int, timeout: float = 120) -> None:
    url, schema = env["CERTLIFE_DATABASE_URL"], env["CERTLIFE_DB_SCHEMA"]
    deadline = asyncio.get_running_loop().time() + timeout
    seen: dict[str, tuple[int, int | None]] = {}
    while asyncio.get_running_loop().time() < deadline:
        seen = {n: await _position(url, schema, n) for n in ("certificates", "history")}
        if all(i >= index and (c or 0) >= checkpoint for i, c in seen.values()):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"projections did not reach index {index}/checkpoint {checkpoint}: {seen}")


def expected_state(app: CertificateApplication, count: int) -> dict[str, tuple[str, int]]:
    """(status, version) of every certificate, straight from the event store."""
    out = {}
    for i in range(count):
        number = f"RT-{i:05d}"
        cert = app.repository.get(Certificate.create_id(ISSUER, number))
        out[number] = (cert.status.value, cert.version)
    return out


async def snapshot(env: dict[str, str]) -> dict[str, Any]:
    conn = await asyncpg.connect(env["CERTLIFE_DATABASE_URL"])
    s = f'"{env["CERTLIFE_DB_SCHEMA"]}"'
    try:
        current = [dict(r) for r in await conn.fetch(f"SELECT * FROM {s}.certificates ORDER BY number")]
        history = [
            dict(r) for r in await conn.fetch(f"SELECT * FROM {s}.certificate_history ORDER BY log_index")
        ]
        return {"current": current, "history": history}
    finally:
        await conn.close()


async def test_read_models_equal_the_event_store_after_crashes_redelivery_and_rebalance(
    env: dict[str, str], pg_env: dict[str, str], tmp_path: Path
) -> None:
    assert certctl(env, "keys", "generate").returncode == 0
    app = CertificateApplication(env=pg_env)
    relay = ServiceProcess("relay", env, tmp_path).start()
    # The killed instance restarts under one static membership id, as under `certctl serve all`: it
    # takes its partitions back at once instead of waiting out its dead self's session. The second
    # instance is dynamic: its joining and its death are the rebalances.
    static = dict(env, CERTLIFE_GROUP_INSTANCE_ID="test-projections")
    proj = ServiceProcess("projections", static, tmp_path).start()
    crashy = ServiceProcess(
        "projections", dict(static, CERTLIFE_PROJECTION_CRASH_IN_BATCH="3"), tmp_path, "-crash"
    )
    second = ServiceProcess("projections", env, tmp_path, "-b")
    rng = random.Random(11)
    kills, starts = 0, 1
    try:
        relay.wait_for_log("relay active")
        proj.wait_for_log("projections active")
        rounds = lifecycle_commands(0, ROUND_SIZES[0])
        for number, (round_, size) in enumerate(zip(rounds, ROUND_SIZES, strict=True)):
            for chunk in range(0, size, 250):
                await asyncio.to_thread(store, app, round_[chunk : min(chunk + 250, size)])
                if rng.random() < 0.4:
                    # SIGKILL once the instance consumes again (after its group rejoin): inside a batch.
                    await asyncio.to_thread(_wait_consuming, proj, starts)
                    await asyncio.sleep(rng.uniform(0.05, 0.3))
                    proj.kill()
                    kills += 1
                    proj.start()
                    starts += 1
            if number == 1:
                # A second instance in the same groups: partitions move between them (rebalance).
                second.start()
                second.wait_for_log("projections active")
            if number == 3:
                await asyncio.to_thread(second.wait_for_log, "resumes at offset", 60)
                second.kill()
        proj.kill()
        # Exit inside the 3rd batch after writing its rows, before COMMIT: that batch is redelivered.
        crashy.start()
        assert crashy.proc is not None
        await asyncio.to_thread(crashy.proc.wait, 120)
        assert "fault injection" in crashy.log_text(), crashy.log_text()[-2000:]
        proj.start()
        trust = trust_of(env)
        await wait_for_size(env, trust, TOTAL)
        assert relay.stop() == 0  # publishes the final checkpoint (size TOTAL)
        await wait_applied(env, TOTAL - 1, TOTAL)
    finally:
        relay.kill()
        second.kill()
        crashy.kill()
    assert kills >= 3
    # The second instance was assigned partitions (a rebalance), and every start resumed from PostgreSQL.
    assert proj.log_text().count("projections active") >= 4

    report = await check_log(env["CERTLIFE_KAFKA_BOOTSTRAP"], env["CERTLIFE_TOPIC_PREFIX"], trust)
    last_index = {r.number: r.index for r in report.records}
    expected = await asyncio.to_thread(expected_state, app, ROUND_SIZES[0])
    snap = await snapshot(env)
    current = {r["number"]: r for r in snap["current"]}
    assert {n: (r["status"], r["seq"]) for n, r in current.items()} == expected
    assert {n: r["log_index"] for n, r in current.items()} == last_index
    assert all(r["certificate_id"] == Certificate.create_id(ISSUER, n) for n, r in current.items())
    assert [h["log_index"] for h in snap["history"]] == list(range(TOTAL))
    lengths = Counter(h["number"] for h in snap["history"])
    assert lengths == {n: version for n, (_, version) in expected.items()}

    conn = await asyncpg.connect(env["CERTLIFE_DATABASE_URL"])
    try:
        models = ReadModels(conn, f'"{env["CERTLIFE_DB_SCHEMA"]}"')
        statuses = Counter(status for status, _ in expected.values())
        assert await models.counts() == {(s, "CCC"): n for s, n in statuses.items()}
        assert statuses == {"revoked": 800, "valid": 200, "suspended": 200}
        review = await models.awaiting_review()
        assert sorted(r["number"] for r in review) == sorted(
            n for n, (s, _) in expected.items() if s == "suspended"
        )
        assert all(r["suspension_reason"] == "surveillance audit overdue" for r in review)
        now = datetime.now(UTC)
        assert len(await models.expiring(365 * 10, now)) == 400 and await models.expiring(1, now) == []
        found = await models.search(holder="volt mobility", model="VB-90", status="suspended", limit=10_000)
        assert {r["number"] for r in found} == {f"RT-{i:05d}" for i in range(900, 1000)}
        assert len(await models.history("RT-00000")) == 5
        assert (await models.certificate_by_id(Certificate.create_id(ISSUER, "RT-01150")))[
            "status"
        ] == "valid"
    finally:
        await conn.close()

    # The operator's views of it.
    answer = certctl(env, "status", "RT-00001", "--json")
    assert answer.returncode == 0, answer.stderr
    data = json.loads(answer.stdout)
    assert (data["status"], data["index"], data["checkpoint"]) == ("revoked", last_index["RT-00001"], TOTAL)
    assert certctl(env, "status", "NOPE-1").returncode == 1
    shown = json.loads(certctl(env, "projections", "status", "--json").stdout)["projections"]
    assert {p["name"]: (p["index"], p["checkpoint"]) for p in shown} == {
        "certificates": (TOTAL - 1, TOTAL),
        "history": (TOTAL - 1, TOTAL),
    }

    # Rebuilds (COPY into a new generation, atomic swap) equal the live copy.
    for name in ("certificates", "history"):
        result = certctl(env, "projections", "rebuild", name, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["generation"] == 2
    assert await snapshot(env) == snap
    assert await _position(env["CERTLIFE_DATABASE_URL"], env["CERTLIFE_DB_SCHEMA"], "certificates") == (
        TOTAL - 1,
        TOTAL,
    )
    proj.stop()


async def test_writes_are_idempotent_per_log_index_and_bulk_equals_live(
    database_url: str, pg_schema: str
) -> None:
    """Replaying records straight into the live writers (no offset filter) changes nothing,
    and the rebuild's COPY path gives the same rows."""
    from certlife.contracts.records import parse_record
    from certlife.projections.registry import PROJECTIONS
    from certlife.projections.tracking import create_generation, create_tracking
    from tests.unit.logbuilder import LogBuilder

    b = LogBuilder()
    b.issue_many(30)
    b.add("C-0001", "suspended", "suspended", reason="audit")
    b.add("C-0001", "amended", "suspended")
    b.add("C-0002", "withdrawn", "withdrawn")
    records = [parse_record(r) for r in b.records]
    s = f'"{pg_schema}"'
    conn = await asyncpg.connect(database_url)
    try:
        await create_tracking(conn, s)
        tables: dict[int, list[Any]] = {}
        for generation, bulk in ((1, False), (2, True)):
            for p in PROJECTIONS.values():
                await create_generation(conn, s, p, generation, with_indexes=True)
                # Live writes get overlapping (redelivered) parts; a rebuild's COPY gets each once.
                parts = (
                    (records[:17], records[17:40], records[40:])
                    if bulk
                    else (records[:25], records[10:40], records, records[5:])
                )
                for part in parts:
                    async with conn.transaction():
                        write = p.write_bulk if bulk else p.write_live
                        await write(conn, s, generation, part, "certlife.example")
            tables[generation] = [
                [dict(r) for r in await conn.fetch(f"SELECT * FROM {s}.{t}_g{generation} ORDER BY 1")]
                for t in ("certificates", "certificate_history")
            ]
        current, history = tables[1]
        assert tables[2] == tables[1]
        assert len(history) == len(records)
        by_number = {r["number"]: r for r in current}
        c1 = by_number["C-0001"]
        assert (c1["status"], c1["seq"], c1["suspension_reason"]) == ("suspended", 3, "audit")
        assert by_number["C-0002"]["status"] == "withdrawn"
        assert by_number["C-0003"]["seq"] == 3  # issued, suspended, reinstated
    finally:
        await conn.close()


async def test_new_history_rows_go_straight_in_and_known_ones_take_the_merge(
    database_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """History rows whose indexes the table does not hold are COPYed into it directly; a part that
    repeats known indexes is rolled back to its savepoint and merged, skipping them."""
    from certlife.contracts.records import parse_record
    from certlife.projections import history
    from certlife.projections.tracking import create_generation, create_tracking
    from tests.unit.logbuilder import LogBuilder

    copied: list[tuple[str, int]] = []
    real = history.copy_rows

    async def spy(conn: asyncpg.Connection, target: str, columns: Any, rows: Any, schema: Any = None) -> None:
        copied.append((target, len(rows)))
        await real(conn, target, columns, rows, schema)

    monkeypatch.setattr(history, "copy_rows", spy)
    b = LogBuilder()
    b.issue_many(12)
    records = [parse_record(r) for r in b.records]
    s = f'"{pg_schema}"'
    projection = history.HistoryProjection()
    conn = await asyncpg.connect(database_url)
    try:
        await create_tracking(conn, s)
        await create_generation(conn, s, projection, 1, with_indexes=True)
        async with conn.transaction():
            await projection.write_live(conn, s, 1, records[:8], ISSUER)
        assert copied == [("certificate_history_g1", 8)]
        async with conn.transaction():
            await projection.write_live(conn, s, 1, records[4:], ISSUER)
        rest = len(records) - 4
        assert copied[1:] == [("certificate_history_g1", rest), ("history_live_stage", rest)]
        indexes = [
            r["log_index"] for r in await conn.fetch(f"SELECT log_index FROM {s}.certificate_history_g1")
        ]
    finally:
        await conn.close()
    assert sorted(indexes) == [r.index for r in records]


def _as_staged(value: Any) -> Any:
    """A table value as the certificates' stage takes it: a time in microseconds since the Unix epoch."""
    if isinstance(value, datetime):
        return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return value


@pytest.mark.parametrize("bulk", [False, True])
async def test_certificate_times_arrive_exactly_whatever_the_session_time_zone(
    database_url: str, pg_schema: str, bulk: bool
) -> None:
    """Rows carry times as microseconds since the Unix epoch: both read models hold exactly the
    instant of each record's text (dates as midnight UTC, fractions, years 1 and 9999, before 1970;
    none becomes an infinity), live and in a rebuild, in a session whose time zone is not UTC."""
    from certlife.contracts.records import parse_record
    from certlife.projections.mapping import instant
    from certlife.projections.registry import PROJECTIONS
    from certlife.projections.tracking import create_generation, create_tracking
    from tests.unit.logbuilder import LogBuilder, certificate

    cases = [
        ("0001-01-01", "1969-12-31T23:59:59.5Z"),
        ("1970-01-01T00:00:00.000001Z", "9999-12-31T23:59:59.999999Z"),
        ("2026-02-01", "2026-02-01T12:34:56.123456789Z"),
    ]
    b = LogBuilder()
    certs = [certificate(f"T-{i}") | {"validFrom": f, "validUntil": u} for i, (f, u) in enumerate(cases)]
    for cert, (_, until) in zip(certs, cases, strict=True):
        b.add(cert["number"], "issued", "valid", certificate=cert, effective_at=until, recorded_at=until)
    moon = "1969-07-20T20:17:40.25Z"
    b.add(
        "T-0",
        "suspended",
        "suspended",
        certificate=certs[0],
        reason="audit",
        effective_at=moon,
        recorded_at=moon,
    )
    records = [parse_record(r) for r in b.records]
    s = f'"{pg_schema}"'
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET TimeZone = 'Pacific/Chatham'")
        await create_tracking(conn, s)
        for projection in PROJECTIONS.values():
            await create_generation(conn, s, projection, 1, with_indexes=True)
            async with conn.transaction():
                write = projection.write_bulk if bulk else projection.write_live
                await write(conn, s, 1, records, ISSUER)
        rows = {r["number"]: r for r in await conn.fetch(f"SELECT * FROM {s}.certificates_g1")}
        history = await conn.fetch(
            f"SELECT number, seq, effective_at, recorded_at, isfinite(effective_at) AND isfinite(recorded_at) "
            f"AS finite FROM {s}.certificate_history_g1 ORDER BY log_index"
        )
    finally:
        await conn.close()
    texts = {(r.number, r.seq): r.effective_at for r in records}
    assert len(history) == len(records) and all(h["finite"] for h in history)
    for h in history:
        assert h["effective_at"] == h["recorded_at"] == instant(texts[(h["number"], h["seq"])])
    for i, (valid_from, valid_until) in enumerate(cases):
        row = rows[f"T-{i}"]
        assert (row["valid_from"], row["valid_until"]) == (instant(valid_from), instant(valid_until))
        if i:
            assert row["effective_at"] == row["recorded_at"] == instant(valid_until)
    assert rows["T-0"]["suspended_at"] == rows["T-0"]["effective_at"] == instant(moon)


async def test_live_writes_keep_every_array_element_and_value_exactly(
    database_url: str, pg_schema: str
) -> None:
    """Live rows travel by COPY through a staging table, their lists as array literals: quotes,
    backslashes, commas, braces, 'NULL' and edge spaces in text arrays come back as sent, and each
    write leaves the stage empty (a batch written in parts)."""
    from certlife.contracts.records import parse_record
    from certlife.projections.mapping import fold_current, history_rows
    from certlife.projections.registry import PROJECTIONS
    from certlife.projections.tracking import create_generation, create_tracking
    from tests.unit.logbuilder import LogBuilder, certificate

    tricky = [
        'DC "60"',
        "back\\slash",
        "a,b",
        "{braces}",
        "NULL",
        "two  spaces",
        "ünï€ode",
        " edge ",
        "\\",
        '"',
    ]
    b = LogBuilder()
    cert = certificate("T-1") | {
        "models": tricky,
        "factories": [],
        "standards": ["IEC 61851-1:2017", "{a,b}"],
    }
    b.add("T-1", "issued", "valid", certificate=cert)
    b.add("T-2", "issued", "valid")
    records = [parse_record(r) for r in b.records]
    s = f'"{pg_schema}"'
    conn = await asyncpg.connect(database_url)
    try:
        await create_tracking(conn, s)
        for p in PROJECTIONS.values():
            await create_generation(conn, s, p, 1, with_indexes=True)
            async with conn.transaction():
                for part in (records[:1], records[1:]):
                    await p.write_live(conn, s, 1, part, ISSUER)
                    assert await conn.fetchval(f"SELECT count(*) FROM {p.name}_live_stage") == 0
        current = {r["number"]: dict(r) for r in await conn.fetch(f"SELECT * FROM {s}.certificates_g1")}
        history = [dict(r) for r in await conn.fetch(f"SELECT * FROM {s}.certificate_history_g1 ORDER BY 1")]
    finally:
        await conn.close()
    assert current["T-1"]["models"] == tricky and current["T-1"]["factories"] == []
    expected = {n: r._asdict() for n, r in fold_current(records, ISSUER).items()}
    for row in current.values():
        want = expected[row["number"]]
        cert = json.loads(want["certificate"])
        assert json.loads(row["certificate"]) == cert
        assert {k: row[k] for k in ("factories", "models", "standards")} == {
            k: cert[k] for k in ("factories", "models", "standards")
        }
        lists = ("factories", "models", "standards", "certificate")
        staged = {k: _as_staged(v) for k, v in row.items() if k in want and k not in lists}
        assert staged == {k: v for k, v in want.items() if k not in lists}
    assert [h["log_index"] for h in history] == [r.log_index for r in history_rows(records, ISSUER)]
