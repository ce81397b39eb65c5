"""PostgreSQL least privilege: after ``certctl db migrate`` each role can do its job and nothing else.

The roles and their passwords are the local stack's (``certctl stack up``
creates them, ``certlife.services.infra.stack.pgroles``); the grants are made
by ``certlife.services.infra.dbroles.migrate`` on this test's fresh schema.
Then the real start-up code of each process runs as its restricted role: the
event-sourced application as ``certlife_commands`` (stores events) and
``certlife_relay`` (reads them), the relay's store, the projections' runtime,
a generation swap like a rebuild's, and the read-model queries as
``certlife_reader``.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from certlife.contracts.commands import Accepted, IssueCertificate, TestReport
from certlife.projections.certificates import CertificatesProjection
from certlife.projections.ddl import quote_ident
from certlife.projections.queries import ReadModels
from certlife.projections.status import projection_status
from certlife.projections.tracking import create_generation, create_tracking, ensure_projection
from certlife.services.bootstrap import build_application, projection_config
from certlife.services.cli.db_cmd import event_store
from certlife.services.infra.dbroles import Granted, RoleNames, RolesError, migrate
from certlife.services.infra.settings import Settings, redacted_url
from certlife.services.infra.stack import StackSettings, pgroles
from certlife.services.relay.state import RelayState
from certlife.services.relay.store import Head, RelayStore
from tests.infra import Infra

pytestmark = pytest.mark.integration

T0 = datetime(2030, 1, 10, 9, 0, 0, tzinfo=UTC)
EVENTS = "certificateapplication_events"


@pytest.fixture(scope="module")
def stack(infra: Infra) -> StackSettings:
    """The local stack, whose roles and password files these tests need (never skipped)."""
    settings = StackSettings.from_env()
    if infra.database_url != settings.database_url:
        pytest.fail(
            f"test_db_privileges needs the local stack's PostgreSQL ({redacted_url(settings.database_url)}), "
            f"whose roles `certctl stack up` creates; this session uses {infra.source} "
            f"({redacted_url(infra.database_url)})",
            pytrace=False,
        )
    return settings


def settings_for(url: str, schema: str) -> Settings:
    """Settings of a process logging in with ``url`` on ``schema`` (Kafka is not used here)."""
    env = {
        "CERTLIFE_HOME": os.environ.get("CERTLIFE_HOME", ""),
        "CERTLIFE_DATABASE_URL": url,
        "CERTLIFE_DB_SCHEMA": schema,
        "CERTLIFE_KAFKA_SECURITY": "plaintext",
    }
    return Settings.from_env({k: v for k, v in env.items() if v})


async def migrated(database_url: str, schema: str, roles: RoleNames | None = None) -> list[Granted]:
    """``certctl db migrate``'s work on ``schema``, as the owner."""
    conn = await asyncpg.connect(database_url)
    try:
        store = event_store(settings_for(database_url, schema))
        return await migrate(conn, schema, roles or RoleNames(), event_store=store)
    finally:
        await conn.close()


@dataclass
class Deployment:
    """A migrated schema and a way to log in as each role."""

    schema: str
    stack: StackSettings

    @property
    def s(self) -> str:
        """The schema quoted for SQL."""
        return quote_ident(self.schema)

    def url(self, role: str) -> str:
        """The libpq URL of ``role``."""
        return pgroles.role_url(self.stack, role)

    async def connect(self, role: str) -> asyncpg.Connection:
        """A session as ``role``."""
        return await asyncpg.connect(self.url(role))


@pytest.fixture
async def deployment(database_url: str, pg_schema: str, stack: StackSettings) -> AsyncIterator[Deployment]:
    """This test's schema after ``migrate``."""
    await migrated(database_url, pg_schema)
    yield Deployment(pg_schema, stack)


class _Rollback(Exception):
    """Undo a permitted statement."""


async def allowed(conn: asyncpg.Connection, sql: str) -> bool:
    """True when ``sql`` runs for this role (its effect is rolled back); False when privileges refuse it."""
    try:
        async with conn.transaction():
            await conn.execute(sql)
            raise _Rollback
    except _Rollback:
        return True
    except asyncpg.InsufficientPrivilegeError:
        return False


async def check(deployment: Deployment, role: str, cases: Sequence[tuple[str, bool]]) -> None:
    """Each ``(sql, expected)`` of ``cases`` is allowed for ``role`` exactly when expected."""
    conn = await deployment.connect(role)
    try:
        wrong = [
            f"{'refused' if ok else 'allowed'}: {sql}" for sql, ok in cases if await allowed(conn, sql) != ok
        ]
    finally:
        await conn.close()
    assert wrong == [], f"{role}:\n" + "\n".join(wrong)


def _insert_event(s: str) -> str:
    return (
        f"INSERT INTO {s}.{EVENTS} (originator_id, originator_version, topic, state) "
        "VALUES (gen_random_uuid(), 1, 'x', '\\x00')"
    )


async def test_reader_only_reads_the_read_models(deployment: Deployment) -> None:
    s = deployment.s
    await check(
        deployment,
        pgroles.READER,
        [
            (f"SELECT * FROM {s}.certificates", True),
            (f"SELECT * FROM {s}.certificate_history", True),
            (f"SELECT * FROM {s}.certificates_g1", True),
            (f"SELECT * FROM {s}.projection_live", True),
            (f"SELECT * FROM {s}.projection_parked", True),
            (
                f"INSERT INTO {s}.certificates_g1 (number, certificate_id, status, log_index) "
                "VALUES ('N', gen_random_uuid(), 'valid', 0)",
                False,
            ),
            (f"UPDATE {s}.projection_live SET generation = 2", False),
            (f"DELETE FROM {s}.certificate_history_g1", False),
            (f"CREATE TABLE {s}.reader_table (x int)", False),
            (f"CREATE VIEW {s}.reader_view AS SELECT 1", False),
            (f"SELECT * FROM {s}.{EVENTS}", False),
            (f"SELECT * FROM {s}.relay_heads", False),
            (f"SELECT * FROM {s}.relay_keys", False),
        ],
    )


async def test_relay_reads_the_event_store_and_writes_only_its_tables(deployment: Deployment) -> None:
    s = deployment.s
    await check(
        deployment,
        pgroles.RELAY,
        [
            (f"SELECT * FROM {s}.{EVENTS}", True),
            (f"INSERT INTO {s}.relay_heads VALUES ('N-1', 1, 'h', 0)", True),
            (f"UPDATE {s}.relay_heads SET seq = 2", True),
            (
                f"INSERT INTO {s}.relay_key_requests (action, new_key_id) VALUES ('rotate', 'k2') RETURNING id",
                True,
            ),
            (f"UPDATE {s}.relay_key_requests SET done_at_index = 1", True),
            (f"DELETE FROM {s}.relay_heads", False),
            (_insert_event(s), False),
            (f"DELETE FROM {s}.{EVENTS}", False),
            (f"SELECT * FROM {s}.certificates", False),
            (f"INSERT INTO {s}.projection_live VALUES ('x', 1)", False),
            (f"UPDATE {s}.projection_state SET log_index = 7", False),
            (f"CREATE TABLE {s}.relay_extra (x int)", False),
        ],
    )


async def test_commands_append_events_and_touch_nothing_else(deployment: Deployment) -> None:
    s = deployment.s
    await check(
        deployment,
        pgroles.COMMANDS,
        [
            (f"SELECT * FROM {s}.{EVENTS}", True),
            (_insert_event(s), True),
            (f"LOCK TABLE {s}.{EVENTS} IN EXCLUSIVE MODE", True),
            # UPDATE is granted only for that LOCK TABLE: the append-only trigger refuses it.
            (f"UPDATE {s}.{EVENTS} SET topic = topic", False),
            (f"DELETE FROM {s}.{EVENTS}", False),
            (f"TRUNCATE {s}.{EVENTS}", False),
            (f"SELECT * FROM {s}.certificates", False),
            (f"SELECT * FROM {s}.projection_state", False),
            (f"SELECT * FROM {s}.relay_heads", False),
            (f"SELECT * FROM {s}.relay_position", False),
            (f"CREATE TABLE {s}.commands_extra (x int)", False),
        ],
    )
    # The trigger binds the owner as well.
    await check(deployment, pgroles.OWNER, [(f"DELETE FROM {s}.{EVENTS}", False), (_insert_event(s), True)])


async def test_projections_own_the_read_models_and_cannot_touch_the_event_store(
    deployment: Deployment,
) -> None:
    s = deployment.s
    await check(
        deployment,
        pgroles.PROJECTIONS,
        [
            (f"INSERT INTO {s}.projection_live VALUES ('x', 1)", True),
            (f"DELETE FROM {s}.projection_parked", True),
            (f"CREATE TABLE {s}.certificates_g9 (x int)", True),
            (f"DROP TABLE {s}.certificates_g1 CASCADE", True),
            ("CREATE TEMP TABLE stage (x int) ON COMMIT DROP", True),
            (f"SELECT * FROM {s}.{EVENTS}", False),
            (_insert_event(s), False),
            (f"SELECT * FROM {s}.relay_heads", False),
            (f"INSERT INTO {s}.relay_position VALUES (true, 0, '\\x00')", False),
        ],
    )


async def test_public_may_not_create_in_schema_public_nor_connect(deployment: Deployment) -> None:
    conn = await deployment.connect(pgroles.READER)
    try:
        assert not await conn.fetchval("SELECT has_schema_privilege('public', 'CREATE')")
        assert not await conn.fetchval(
            "SELECT has_database_privilege('public', current_database(), 'CONNECT')"
        )
        assert not await conn.fetchval("SELECT has_database_privilege(current_database(), 'TEMPORARY')")
    finally:
        await conn.close()


async def test_passwords_are_scram_in_private_files(stack: StackSettings) -> None:
    folder = pgroles.secret_path(stack, pgroles.COMMANDS).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    for role in pgroles.SERVICE_ROLES:
        assert stat.S_IMODE(pgroles.secret_path(stack, role).stat().st_mode) == 0o600
    names = ", ".join(pgroles.quote_literal(r) for r in pgroles.SERVICE_ROLES)
    rows = pgroles.as_postgres(
        stack.postgres_port,
        "SELECT rolname, rolpassword LIKE 'SCRAM-SHA-256$%', rolsuper OR rolcreaterole OR rolcreatedb "
        f"OR rolreplication OR rolbypassrls FROM pg_authid WHERE rolname IN ({names}) ORDER BY 1;",
    )
    assert sorted(rows.split()) == sorted(f"{r}|t|f" for r in pgroles.SERVICE_ROLES)
    owner = pgroles.as_postgres(
        stack.postgres_port, "SELECT rolsuper FROM pg_roles WHERE rolname = 'certlife';"
    )
    assert owner.strip() == "f"
    methods = pgroles.as_postgres(
        stack.postgres_port, "SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type LIKE 'host%';"
    )
    assert methods.split() == ["scram-sha-256"]
    for role in pgroles.SERVICE_ROLES:  # each logs in with its file's password (scram over TCP)
        conn = await asyncpg.connect(pgroles.role_url(stack, role))
        try:
            assert await conn.fetchval("SELECT current_user") == role
            assert await conn.fetchval("SHOW password_encryption") == "scram-sha-256"
        finally:
            await conn.close()


async def _acls(database_url: str, schema: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, pg_get_userbyid(c.relowner) || ' ' || coalesce(c.relacl::text, '') AS acl "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1",
            schema,
        )
        return [(r["relname"], r["acl"]) for r in rows]
    finally:
        await conn.close()


async def test_migrate_is_idempotent(database_url: str, pg_schema: str, stack: StackSettings) -> None:
    first = await migrated(database_url, pg_schema)
    before = await _acls(database_url, pg_schema)
    second = await migrated(database_url, pg_schema)
    assert second == first
    assert await _acls(database_url, pg_schema) == before
    assert [g.role for g in first] == list(pgroles.SERVICE_ROLES)


async def test_migrate_names_a_missing_role_membership_or_a_wrong_login(
    database_url: str, pg_schema: str, stack: StackSettings
) -> None:
    with pytest.raises(RolesError, match="role\\(s\\) missing: certlife_nobody"):
        await migrated(database_url, pg_schema, RoleNames(reader="certlife_nobody"))
    with pytest.raises(RolesError, match='GRANT "certlife_reader" TO "certlife"'):
        await migrated(database_url, pg_schema, RoleNames(projections=pgroles.READER))
    relay_url = pgroles.role_url(stack, pgroles.RELAY)
    with pytest.raises(RolesError, match="run as the schema owner, not as certlife_relay"):
        await migrated(relay_url, pg_schema)


def _issue(settings: Settings, number: str) -> IssueCertificate:
    return IssueCertificate(
        command_id=f"issue-{number}",
        issuer=settings.issuer,
        number=number,
        scheme="CB",
        holder="Example GmbH",
        manufacturer="Example GmbH",
        factories=["Plant 1, Stuttgart"],
        product="EV supply equipment",
        models=["WB-22"],
        standards=["IEC 61851-1"],
        scope="Mode 3 AC wallbox",
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
        test_reports=[TestReport(lab="VDE", report_number="R-1")],
    )


async def test_each_process_starts_and_works_as_its_role(deployment: Deployment) -> None:
    schema, s = deployment.schema, deployment.s
    commands = settings_for(deployment.url(pgroles.COMMANDS), schema)
    relay = settings_for(deployment.url(pgroles.RELAY), schema)

    # Command service: the real application stores events (LOCK TABLE, sequence, composite type).
    app = await asyncio.to_thread(build_application, commands, pool_size=1)
    try:
        outcome = await asyncio.to_thread(app.issue, _issue(commands, "N-1"), T0)
        assert isinstance(outcome, Accepted), outcome
    finally:
        app.close()

    # Relay: reads the notification log, keeps its own tables; its DDL is skipped.
    reader_app = await asyncio.to_thread(build_application, relay, pool_size=1)
    conn = await deployment.connect(pgroles.RELAY)
    try:
        notifications = await asyncio.to_thread(reader_app.recorder.select_notifications, 1, 10)
        assert notifications and notifications[0].originator_version == 1
        certificate = await asyncio.to_thread(reader_app.get_certificate, "N-1", relay.issuer)
        assert certificate.data.number == "N-1"
        store = RelayStore(conn, schema)
        await store.create()
        await store.install_notify(reader_app.recorder.events_table_name)  # type: ignore[attr-defined]
        woken = asyncio.Event()
        await conn.add_listener(store.channel, lambda *_: woken.set())
        await store.apply({"N-1": Head(1, "h1", 0)}, RelayState(notification_id=notifications[-1].id))
        assert (await store.position()) is not None
        assert (await store.heads(["N-1"]))["N-1"].record_hash == "h1"
        app = await asyncio.to_thread(build_application, commands, pool_size=1)
        try:  # an insert by the command service wakes the relay (the owner's trigger)
            assert isinstance(await asyncio.to_thread(app.issue, _issue(commands, "N-2"), T0), Accepted)
        finally:
            app.close()
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        await conn.close()
        reader_app.close()

    # Projections: the runtime's start-up (tracking tables, live generations) as its role.
    from certlife.projections.consumer import Runtime

    config = projection_config(settings_for(deployment.url(pgroles.PROJECTIONS), schema))
    pool = await asyncpg.create_pool(deployment.url(pgroles.PROJECTIONS), min_size=1, max_size=2)
    try:
        await Runtime(config, pool).start()
        async with pool.acquire() as conn:
            await create_tracking(conn, s)
            projection = CertificatesProjection()
            assert await ensure_projection(conn, s, projection) == 1
            async with conn.transaction():  # a rebuild's new generation, swapped in, the old one dropped
                await create_generation(conn, s, projection, 2, with_indexes=True)
                await conn.execute(
                    f"UPDATE {s}.projection_live SET generation = 2 WHERE name = 'certificates'"
                )
                await conn.execute(projection.view_sql(s, 2))
                await conn.execute(projection.drop_sql(s, 1))
    finally:
        await pool.close()

    # Reader: the read-model queries, also on the generation created after migrate.
    conn = await deployment.connect(pgroles.READER)
    try:
        models = ReadModels(conn, s)
        assert await models.certificate("N-1") is None
        assert (await models.status("N-1", datetime.now(UTC))).status == "unknown"
        assert (await models.position()).generation == 2
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.certificates_g2") == 0
        statuses = await projection_status(config, conn, {})
        assert {st.name for st in statuses} == {"certificates", "history"}
    finally:
        await conn.close()


async def test_migrate_adopts_read_models_the_owner_created(
    database_url: str, pg_schema: str, stack: StackSettings
) -> None:
    """A schema whose services ran as the owner (tests, a dev schema) migrates as well."""
    s = quote_ident(pg_schema)
    conn = await asyncpg.connect(database_url)
    try:
        await create_tracking(conn, s)
        await ensure_projection(conn, s, CertificatesProjection())
    finally:
        await conn.close()
    await migrated(database_url, pg_schema)
    owners = {name: acl.split()[0] for name, acl in await _acls(database_url, pg_schema)}
    for name in (
        "projection_live",
        "projection_parked",
        "certificates",
        "certificates_g1",
        "certificate_history",
    ):
        assert owners[name] == pgroles.PROJECTIONS, name
    assert owners[EVENTS] == owners["relay_heads"] == "certlife"
    deployment = Deployment(pg_schema, stack)
    await check(deployment, pgroles.READER, [(f"SELECT * FROM {s}.certificates", True)])
    await check(deployment, pgroles.PROJECTIONS, [(f"DROP VIEW {s}.certificates", True)])


def _other_ca(folder: Path) -> Path:
    """A CA that did not sign the server's certificate (the launcher's CA maker, in another folder)."""
    from certlife.services.infra.stack.tls import ensure_tls

    return ensure_tls(folder / "other")


async def test_tls_with_certificate_verification_reaches_every_connection(
    deployment: Deployment, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``PGSSLMODE``/``PGSSLROOTCERT`` reach asyncpg and eventsourcing's psycopg pool; a wrong CA is refused.

    The local cluster serves Debian's self-signed certificate, so ``verify-ca``
    (chain, not host name) is what can be checked here; ``verify-full`` needs a
    certificate naming the host.
    """
    conn = await asyncpg.connect(database_url)
    try:
        ssl_on, cert = await conn.fetchval("SHOW ssl"), await conn.fetchval("SHOW ssl_cert_file")
    finally:
        await conn.close()
    if ssl_on != "on":
        pytest.fail("the local PostgreSQL cluster has ssl = off: TLS cannot be checked", pytrace=False)
    url = deployment.url(pgroles.COMMANDS)
    monkeypatch.setenv("PGSSLMODE", "verify-ca")
    monkeypatch.setenv("PGSSLROOTCERT", cert)
    query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval(query) is True
    finally:
        await conn.close()

    def event_store_ssl() -> object:
        app = build_application(settings_for(url, deployment.schema), pool_size=1)
        try:
            with app.recorder.datastore.get_connection() as pooled:  # type: ignore[attr-defined]
                return pooled.execute(query).fetchone()
        finally:
            app.close()

    assert await asyncio.to_thread(event_store_ssl) == {"ssl": True}
    monkeypatch.setenv("PGSSLROOTCERT", str(_other_ca(tmp_path)))
    with pytest.raises(OSError, match="certificate verify failed"):
        await asyncpg.connect(url)
