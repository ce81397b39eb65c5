"""The read models' ``timestamptz`` codec (``certlife.projections.instants``) on the real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest

from certlife.projections.instants import ensure_microsecond_instants
from certlife.projections.mapping import instant, instant_us

pytestmark = pytest.mark.integration

TEXTS = [
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z", "0001-01-01", "9999-12-31T23:59:59.999999Z",
    "2026-02-01T12:34:56.123456+05:45", "2000-01-01T00:00:00Z", "1999-12-31T23:59:59.5-12:00",
]  # fmt: skip


async def test_microseconds_and_aware_datetimes_store_exact_instants(
    database_url: str, pg_schema: str
) -> None:
    """An ``int`` of microseconds since the Unix epoch, or an aware datetime, stores exactly its instant,
    whatever the session's TimeZone, years 1 and 9999 included (asyncpg's own encoder stores
    0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z as -infinity and infinity); values read back,
    infinities too, decode as asyncpg decodes them."""
    plain = await asyncpg.connect(database_url, server_settings={"TimeZone": "Pacific/Chatham"})
    coded = await asyncpg.connect(database_url, server_settings={"TimeZone": "America/St_Johns"})
    t = f'"{pg_schema}".instants'
    try:
        await ensure_microsecond_instants(coded)
        await ensure_microsecond_instants(coded)  # once per session: a second call changes nothing
        await coded.execute(f"CREATE TABLE {t} (k int PRIMARY KEY, at timestamptz)")
        offset = datetime(2026, 2, 1, 9, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
        rows = [(i, instant_us(x)) for i, x in enumerate(TEXTS)] + [(len(TEXTS), offset)]
        await coded.copy_records_to_table("instants", records=rows, schema_name=pg_schema)
        query = f"SELECT k, at, isfinite(at) AS finite, extract(epoch FROM at) * 1000000 AS us FROM {t} ORDER BY k"
        got = await coded.fetch(query)
        assert all(r["finite"] for r in got)
        assert [int(r["us"]) for r in got[: len(TEXTS)]] == [instant_us(x) for x in TEXTS]
        assert [r["at"] for r in got[: len(TEXTS)]] == [instant(x) for x in TEXTS]
        assert got[-1]["at"] == offset and got[-1]["at"].tzinfo == UTC
        # asyncpg's own codec reads the same values (away from its two boundary instants).
        inner = [r["k"] for r in got if r["at"].year not in (1, 9999)]
        assert [
            r["at"] for r in await plain.fetch(f"SELECT at FROM {t} WHERE k = any($1) ORDER BY k", inner)
        ] == [r["at"] for r in got if r["k"] in inner]
        special = "SELECT 'infinity'::timestamptz AS a, '-infinity'::timestamptz AS b, $1::timestamptz AS c"
        assert tuple(await coded.fetchrow(special, instant_us(TEXTS[4]))) == tuple(
            await plain.fetchrow(special, instant(TEXTS[4]))
        )
        # What the codec avoids: asyncpg's own encoder turns the boundary instants into infinities.
        assert await plain.fetchval("SELECT isfinite($1::timestamptz)", instant(TEXTS[2])) is False
        with pytest.raises(asyncpg.DataError, match="naive datetime"):
            await coded.execute(f"INSERT INTO {t} VALUES (99, $1)", datetime(2026, 1, 1))
        with pytest.raises(asyncpg.DataError, match="not str"):
            await coded.execute(f"INSERT INTO {t} VALUES (99, $1)", "2026-01-01")
    finally:
        await plain.close()
        await coded.close()


async def test_a_pooled_session_keeps_the_codec_across_acquires(database_url: str) -> None:
    """A pool hands the same session out again: it keeps the codec, and a new session gets it too."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await ensure_microsecond_instants(conn)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT $1::timestamptz", 0) == datetime(1970, 1, 1, tzinfo=UTC)
        async with pool.acquire() as first, pool.acquire() as second:
            for conn in (first, second):
                await ensure_microsecond_instants(conn)
                assert await conn.fetchval("SELECT $1::timestamptz", 1) == datetime(
                    1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC
                )
    finally:
        await pool.close()
