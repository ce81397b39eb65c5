"""``certverify mirror --tiles URL`` into the real PostgreSQL: verified before applied, only new bundles fetched."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from certlife.contracts.records import parse_record
from certlife.contracts.tiles import entries_path
from certlife.services.partner.certverify import main
from certlife.services.partner.mirror import MirrorResult
from certlife.services.partner.mirror_cmd import open_tiles_mirror
from tests.unit.logbuilder import LogBuilder
from tests.unit.tiles_helpers import serve_tiles, write_tiles

pytestmark = pytest.mark.integration


async def mirror_once(
    url: str, database_url: str, log: LogBuilder, schema: str, **options: Any
) -> MirrorResult:
    async with open_tiles_mirror(url, database_url, log.trust(), schema=schema, **options) as mirror:
        return await mirror.run(follow=False)


async def statuses(database_url: str, schema: str) -> tuple[list[int], dict[str, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        history = [
            r[0] for r in await conn.fetch(f'SELECT log_index FROM "{schema}".mirror_history ORDER BY 1')
        ]
        rows = dict(await conn.fetch(f'SELECT number, status FROM "{schema}".mirror_certificates'))
        return history, rows
    finally:
        await conn.close()


def expected(log: LogBuilder, size: int) -> tuple[list[int], dict[str, str]]:
    history, latest = [], {}
    for raw in log.records[:size]:
        rec = parse_record(raw)
        if rec.kind == "certificate":
            history.append(rec.index)
            latest[rec.number] = rec.data["status"]
    return history, latest


def publish(log: LogBuilder, directory: Path) -> None:
    write_tiles(directory, log.records, log.checkpoint())


@pytest.mark.parametrize(
    "options", [{}, {"jobs": 2, "parallel_from": 0, "chunk": 64}], ids=["serial", "pool"]
)
async def test_mirror_from_tiles_fetches_only_what_is_new(
    database_url: str, pg_schema: str, tmp_path: Path, options: dict[str, Any]
) -> None:
    log, tiles = LogBuilder(), tmp_path / "tiles"
    log.issue_many(180)  # 300 records: bundle 0 full, bundle 1 partial (44)
    publish(log, tiles)
    with serve_tiles(tiles) as server:
        first = await mirror_once(server.url, database_url, log, pg_schema, **options)
        assert first.failure is None and first.applied == first.verified == first.checkpoint_size == 300
        assert server.bundles() == [entries_path(0), entries_path(1, 44)]
        assert await statuses(database_url, pg_schema) == expected(log, 300)

        log.rotate("k1")  # a key record in the new part: the restored key ring must follow it
        log.issue_many(240, prefix="D")
        publish(log, tiles)  # 701 records: bundles 0, 1 full, bundle 2 partial (189)
        server.requests.clear()
        second = await mirror_once(server.url, database_url, log, pg_schema, **options)
        assert second.failure is None and second.checkpoint_size == 701
        assert second.verified == second.applied == 401  # only the new records, read and checked once
        assert server.bundles() == [entries_path(1), entries_path(2, 189)]  # bundle 0 not again
        assert await statuses(database_url, pg_schema) == expected(log, 701)

        server.requests.clear()
        third = await mirror_once(server.url, database_url, log, pg_schema, **options)
        assert third.failure is None and third.applied == third.verified == 0
        assert server.bundles() == [] and list(server.requests) == ["checkpoint"]


async def applied_size(database_url: str, schema: str, at_least: int, timeout: float = 60.0) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                size = await conn.fetchval(f'SELECT applied_size FROM "{schema}".mirror_state')
            except asyncpg.UndefinedTableError:  # the mirror has not created its tables yet
                size = 0
            if (size or 0) >= at_least or time.monotonic() > deadline:
                return int(size or 0)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def test_following_mirror_picks_up_growth_and_waits_out_errors(
    database_url: str, pg_schema: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log, tiles = LogBuilder(), tmp_path / "tiles"
    log.issue_many(180)
    publish(log, tiles)
    stop = asyncio.Event()
    with serve_tiles(tiles) as server:
        async with open_tiles_mirror(
            server.url, database_url, log.trust(), schema=pg_schema, poll_interval=0.05
        ) as mirror:
            running = asyncio.create_task(mirror.run(stop, follow=True))
            assert await applied_size(database_url, pg_schema, 300) == 300
            server.fail_next["checkpoint"] = 6  # more 503s than one read's attempts
            log.issue_many(240, prefix="D")
            publish(log, tiles)
            assert await applied_size(database_url, pg_schema, 700) == 700
            stop.set()
            result = await running
    assert result.failure is None and result.applied == 700
    assert server.requests["checkpoint"] >= 7
    assert "HTTP 503" in caplog.text and "reachable again" in caplog.text
    assert await statuses(database_url, pg_schema) == expected(log, 700)


async def test_tampered_new_bundle_stops_the_mirror(
    database_url: str, pg_schema: str, tmp_path: Path
) -> None:
    log, tiles = LogBuilder(), tmp_path / "tiles"
    log.issue_many(180)
    publish(log, tiles)
    with serve_tiles(tiles) as server:
        assert (await mirror_once(server.url, database_url, log, pg_schema)).applied == 300
        log.issue_many(240, prefix="D")
        publish(log, tiles)
        bundle = tiles / entries_path(2, 188)
        data = bytearray(bundle.read_bytes())
        data[100] ^= 1
        bundle.write_bytes(bytes(data))
        result = await mirror_once(server.url, database_url, log, pg_schema)
    assert result.failure is not None and result.failure.code == "entries-mismatch"
    history, _ = await statuses(database_url, pg_schema)
    assert max(history) < 512  # nothing of the tampered bundle's tree applied


async def test_forked_history_is_refused_on_resume(database_url: str, pg_schema: str, tmp_path: Path) -> None:
    log, tiles = LogBuilder(), tmp_path / "tiles"
    log.issue_many(180)
    publish(log, tiles)
    with serve_tiles(tiles) as server:
        assert (await mirror_once(server.url, database_url, log, pg_schema)).applied == 300
    log.issue_many(240, prefix="D")
    kept = log.records[5]
    log.records[5] = kept.replace(b'"seq":1', b'"seq":7')  # an operator rewriting its signed past
    publish(log, tmp_path / "forked")  # a checkpoint of the forked tree, its tiles consistent with it
    log.records[5] = kept
    with serve_tiles(tmp_path / "forked") as server:
        result = await mirror_once(server.url, database_url, log, pg_schema)
        assert entries_path(0) not in server.bundles()  # the old part is not read again
    assert result.failure is not None and result.failure.code == "root-mismatch"
    assert result.applied == 0


def test_cli_mirror_tiles(
    database_url: str, pg_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, tiles = LogBuilder(), tmp_path / "tiles"
    log.issue_many(30)
    publish(log, tiles)
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(log.trust().to_json()))
    with serve_tiles(tiles) as server:
        argv = ["mirror", "--tiles", server.url, "--database", database_url, "--schema", pg_schema]
        code = main([*argv, "--trust", str(trust), "--once", "--json"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["applied"] == report["checkpointSize"] == 50
    code = main(["mirror", "--tiles", "ftp://x/", "--database", database_url, "--trust", str(trust)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
