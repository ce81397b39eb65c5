"""PostgreSQL failover: a synchronous replica from the launcher, SIGKILL of the primary, promotion,
and clients on the multi-host URL (asyncpg and the event store) that find every acknowledged row.

Runs on a private primary + replica (``pg_replica_harness``: free ports, tmp CERTLIFE_HOME),
never on the shared PostgreSQL. The tests run in file order: the last one kills the primary.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from certlife.contracts.commands import Accepted
from certlife.services.commands.application import CertificateApplication
from certlife.services.infra import stack
from certlife.services.infra.settings import Settings
from certlife.services.infra.stack import StackSettings, pgstate
from tests.integration.pg_replica_harness import kill_primary, private_env, run_replicated
from tests.procs import ROOT
from tests.unit.test_application import POLICY, T0, ApplicationContract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pair_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment selecting the module's private primary + replica (started once)."""
    env = private_env(tmp_path_factory.mktemp("pg-replica"))
    runner = run_replicated(env)
    try:
        next(runner)
    except stack.StackError as exc:  # a failure, never a skip
        pytest.fail(f"the private PostgreSQL primary + replica did not start: {exc}", pytrace=False)
    yield env
    next(runner, None)


@pytest.fixture
def pair(pair_env: dict[str, str]) -> StackSettings:
    return StackSettings.from_env(pair_env)


def single(settings: StackSettings, port: int) -> str:
    """The owner's URL of one server of the pair."""
    return f"postgresql://certlife:certlife@127.0.0.1:{port}/certlife"


def certctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_launcher_starts_a_synchronous_replica_and_the_stack_url_lists_both(
    pair: StackSettings, pair_env: dict[str, str]
) -> None:
    assert pair.postgres_replicated
    assert pair.database_url == (
        f"postgresql://certlife:certlife@127.0.0.1:{pair.postgres_port},127.0.0.1:{pair.replica_port}"
        "/certlife?target_session_attrs=read-write"
    )
    shown = certctl(pair_env, "stack", "status")
    assert shown.returncode == 0, shown.stderr
    assert (
        f"postgres: primary at 127.0.0.1:{pair.postgres_port}, replica certlife_replica streaming sync"
        in shown.stdout
    )
    assert (
        f"postgres replica: standby (streaming from the primary) at 127.0.0.1:{pair.replica_port}"
        in shown.stdout
    )
    secret = (pair.shared_state / "secrets" / "postgres" / "certlife_replication").read_text().strip()
    assert (pair.shared_state / "secrets" / "postgres" / "certlife_replication").stat().st_mode & 0o077 == 0
    assert secret not in shown.stdout + shown.stderr
    again = certctl(pair_env, "stack", "up", "--postgres-only")  # idempotent: the replica is kept
    assert again.returncode == 0, again.stderr
    assert secret not in again.stdout + again.stderr
    assert f"127.0.0.1:{pair.replica_port}" in again.stdout


async def test_a_committed_row_is_on_the_replica_before_commit_returns(pair: StackSettings) -> None:
    primary = await asyncpg.connect(single(pair, pair.postgres_port))
    replica = await asyncpg.connect(single(pair, pair.replica_port))
    try:
        assert await primary.fetchval("SHOW synchronous_commit") == "remote_apply"
        assert await replica.fetchval("SELECT pg_is_in_recovery()")
        await primary.execute("CREATE TABLE IF NOT EXISTS sync_check (id int PRIMARY KEY)")
        for i in range(200):
            await primary.execute("INSERT INTO sync_check VALUES ($1)", i)
            # read at once on the replica, no wait: COMMIT returned only after the replica applied it
            assert await replica.fetchval("SELECT count(*) FROM sync_check WHERE id = $1", i) == 1
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await replica.execute("INSERT INTO sync_check VALUES (-1)")
    finally:
        await primary.close()
        await replica.close()


class Writer:
    """Inserts rows one by one over the multi-host URL, reconnecting after any failure;
    remembers which inserts were acknowledged and when writing resumed."""

    def __init__(self, url: str) -> None:
        self.url, self.acked, self.failed_at, self.resumed_at = url, list[int](), 0.0, 0.0
        self.errors: list[str] = []
        self.in_doubt: set[int] = set()  # inserts whose answer was lost with the connection
        self.in_doubt_committed: list[int] = []  # of those, the ones the promoted replica has

    async def run(self, stop: asyncio.Event, after_resume: int) -> None:
        conn, i, resumed = await asyncpg.connect(self.url), 0, 0
        while not stop.is_set() or (self.failed_at and resumed < after_resume):
            try:
                await conn.execute("INSERT INTO failover_rows VALUES ($1)", i)
            except asyncpg.UniqueViolationError:
                # only an insert in doubt may already be there: its COMMIT reached the replica, its
                # answer never reached us. Any other duplicate is a bug and fails the test.
                assert i in self.in_doubt, f"row {i} exists although it was never sent before"
                self.in_doubt_committed.append(i)
                i += 1
                continue
            except Exception as exc:  # any other failure: this insert is not acknowledged
                self.errors.append(type(exc).__name__)
                self.in_doubt.add(i)
                self.failed_at = self.failed_at or time.monotonic()
                conn.terminate()
                conn = await self._reconnect()
                continue
            self.acked.append(i)
            i += 1
            if self.failed_at:
                self.resumed_at = self.resumed_at or time.monotonic()
                resumed += 1
        await conn.close()

    async def _reconnect(self) -> asyncpg.Connection:
        deadline = time.monotonic() + 60
        while True:
            try:
                return await asyncpg.connect(self.url, timeout=2)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)


def issue(app: CertificateApplication, issuer: str, numbers: range) -> list[str]:
    """Issue certificates through the event store; the numbers whose command was acknowledged."""
    numbers_ = [f"FO-{i:04d}" for i in numbers]
    return [
        n for n in numbers_ if isinstance(app.issue(ApplicationContract.issue_cmd(issuer, n), T0), Accepted)
    ]


async def test_kill_9_the_primary_promote_and_clients_find_every_acknowledged_row(
    pair: StackSettings, pair_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = pair.database_url  # both hosts, target_session_attrs=read-write
    setup = await asyncpg.connect(url)
    await setup.execute("CREATE TABLE failover_rows (id int PRIMARY KEY)")
    await setup.close()
    settings = Settings.from_env({**pair_env, "CERTLIFE_DATABASE_URL": url})
    app = CertificateApplication(env=settings.eventsourcing_env(), policy=POLICY)
    issued = await asyncio.to_thread(issue, app, settings.issuer, range(50))
    assert len(issued) == 50

    writer, stop = Writer(url), asyncio.Event()
    writing = asyncio.create_task(writer.run(stop, after_resume=200))
    while len(writer.acked) < 300:
        await asyncio.sleep(0.01)
    killed = time.monotonic()
    kill_primary(pair)
    promoted = await asyncio.to_thread(certctl, pair_env, "stack", "promote")
    promote_took = time.monotonic() - killed
    assert promoted.returncode == 0, promoted.stderr
    assert f"the replica at 127.0.0.1:{pair.replica_port} is the primary now" in promoted.stdout
    stop.set()
    await asyncio.wait_for(writing, 90)
    issued += await asyncio.to_thread(issue, app, settings.issuer, range(50, 100))  # the same app, its pool
    assert len(issued) == 100

    check = await asyncpg.connect(url)
    try:
        assert not await check.fetchval("SELECT pg_is_in_recovery()")
        assert int(await check.fetchval("SHOW port")) == pair.replica_port
        present = {row["id"] for row in await check.fetch("SELECT id FROM failover_rows")}
    finally:
        await check.close()
    lost = [i for i in writer.acked if i not in present]
    assert lost == [], f"{len(lost)} acknowledged rows lost"
    # nothing appeared that was not sent: every row is acknowledged or was in doubt
    assert present <= set(writer.acked) | writer.in_doubt
    fresh = CertificateApplication(env=settings.eventsourcing_env(), policy=POLICY)
    try:
        assert all(fresh.get_certificate(n, settings.issuer).version == 1 for n in issued)
    finally:
        fresh.close()
        app.close()
    with capsys.disabled():
        print(
            f"\nfailover: {len(writer.acked)} rows acknowledged, all on the promoted replica ({len(present)} rows, "
            f"{len(writer.in_doubt_committed)} of {len(writer.in_doubt)} in-doubt inserts committed), "
            f"0 lost; 100 certificates issued through the event store, all read back; promote took "
            f"{promote_took:.2f} s, writes resumed {writer.resumed_at - killed:.2f} s after the SIGKILL "
            f"(client errors meanwhile: {sorted(set(writer.errors))})"
        )


def test_after_promotion_the_old_primary_stays_fenced(pair: StackSettings, pair_env: dict[str, str]) -> None:
    from certlife.services.infra.stack.procs import port_open

    up = certctl(pair_env, "stack", "up", "--postgres-only")
    assert up.returncode == 0, up.stderr
    assert not port_open(pair.postgres_port)  # a second writable primary would split the data
    shown = certctl(pair_env, "stack", "status").stdout
    assert f"postgres: fenced at 127.0.0.1:{pair.postgres_port}" in shown
    assert f"postgres replica: primary (promoted) at 127.0.0.1:{pair.replica_port}" in shown
    state = pgstate.load(pair.shared_state)
    assert state is not None and state.promoted
    conf = Path(f"/etc/postgresql/{state.version}/{state.primary_cluster}/start.conf")
    assert conf.read_text().strip() == "disabled"
    down = certctl(pair_env, "stack", "down")  # the private stack's: the shared one is another home
    assert down.returncode == 0, down.stderr
    assert "postgres replica" in down.stdout
    assert not port_open(pair.replica_port)


def test_promote_without_a_replica_is_one_line(tmp_path: Path) -> None:
    env = private_env(tmp_path)
    result = certctl(env, "stack", "promote")
    assert result.returncode != 0
    assert "no PostgreSQL replica: start one with certctl stack up --pg-replica" in result.stderr
    assert "Traceback" not in result.stderr
