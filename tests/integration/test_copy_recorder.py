"""The command application's event store writes exactly what eventsourcing's own would.

``CopyApplicationRecorder`` (COPY instead of a composite-array INSERT) and
``OrjsonTranscoder`` are the application's defaults on PostgreSQL; these tests
run the same commands through them and through eventsourcing's own recorder and
transcoder, and compare the stored rows byte for byte, in notification order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import JSONTranscoder, RecordConflictError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic

from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.batch import Inbound, process_batch
from certlife.services.commands.recorder import CopyApplicationRecorder, copy_rows
from certlife.services.demo.scenario import generate_commands

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
EVENTS_TABLE = "certificateapplication_events"


@pytest.fixture
def other_schema(database_url: str) -> Iterator[str]:
    """A second fresh schema (the reference event store)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield name
        finally:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def _rows(database_url: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{schema}".'
            f"{EVENTS_TABLE} ORDER BY notification_id"
        ).fetchall()


def _run_scenario(app: CertificateApplication) -> None:
    messages = generate_commands(
        60,
        7,
        issuer="test.example",
        now=NOW - timedelta(days=400),
        duplicates=0.1,
        conflicts=0.1,
        malformed=0.1,
    )
    batch = [Inbound("commands", 0, i, key, value) for i, (key, value) in enumerate(messages)]
    for start in range(0, len(batch), 50):
        process_batch(app, batch[start : start + 50], NOW, results_topic="r", dead_letter_topic="d")


def test_defaults_on_postgres(pg_env: dict[str, str]) -> None:
    app = CertificateApplication(env=pg_env)
    assert isinstance(app.recorder, CopyApplicationRecorder)


def test_same_rows_as_eventsourcing(pg_env: dict[str, str], database_url: str, other_schema: str) -> None:
    fast = CertificateApplication(env=pg_env)
    reference = CertificateApplication(
        env={
            **pg_env,
            "POSTGRES_SCHEMA": other_schema,
            "APPLICATION_RECORDER_TOPIC": get_topic(PostgresApplicationRecorder),
            "TRANSCODER_TOPIC": get_topic(JSONTranscoder),
        }
    )
    assert type(reference.recorder) is PostgresApplicationRecorder
    _run_scenario(fast)
    _run_scenario(reference)
    stored = _rows(database_url, pg_env["POSTGRES_SCHEMA"])
    assert len(stored) > 100
    assert stored == _rows(database_url, other_schema)
    # Each reads what the other wrote.
    some = [row[1] for row in stored[:: max(1, len(stored) // 20)]]
    for aggregate_id in some:
        assert repr(fast.repository.get(aggregate_id).__dict__) == repr(
            reference.repository.get(aggregate_id).__dict__
        )


def test_a_duplicate_stores_nothing_of_the_transaction(pg_env: dict[str, str], database_url: str) -> None:
    app = CertificateApplication(env=pg_env)
    one, two = uuid.uuid4(), uuid.uuid4()
    app.recorder.insert_events([StoredEvent(one, 1, "t:first", b"{}")])
    with pytest.raises(RecordConflictError):
        app.recorder.insert_events([StoredEvent(two, 1, "t:x", b"{}"), StoredEvent(one, 1, "t:again", b"{}")])
    assert [(row[1], row[3]) for row in _rows(database_url, pg_env["POSTGRES_SCHEMA"])] == [(one, "t:first")]
    # The failed transaction was rolled back before its connection went back to the pool (BEGIN
    # is sent with the lock statements, not by a transaction block): every pooled connection is
    # idle, and the next insert commits.
    with app.recorder.datastore.get_connection() as conn:
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    app.recorder.insert_events([StoredEvent(two, 1, "t:later", b"{}")])
    assert [row[3] for row in _rows(database_url, pg_env["POSTGRES_SCHEMA"])] == ["t:first", "t:later"]


def test_insert_triggers_fire_and_awkward_values_survive(pg_env: dict[str, str], database_url: str) -> None:
    app = CertificateApplication(env=pg_env)
    schema = pg_env["POSTGRES_SCHEMA"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{schema}".fired (n int);'
            f'CREATE FUNCTION "{schema}".count_insert() RETURNS trigger LANGUAGE plpgsql AS '
            f'$$ BEGIN INSERT INTO "{schema}".fired VALUES (1); RETURN NULL; END $$;'
            f'CREATE TRIGGER count_insert AFTER INSERT ON "{schema}".{EVENTS_TABLE} '
            f'FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".count_insert()'
        )
    awkward = [
        StoredEvent(uuid.uuid4(), 1, "topic\\with\ttab\nand\rreturn", bytes(range(256))),
        StoredEvent(uuid.uuid4(), 2**40, "t:empty", b""),
    ]
    app.recorder.insert_events(awkward)
    stored = _rows(database_url, schema)
    assert [(r[1], r[2], r[3], bytes(r[4])) for r in stored] == [
        (e.originator_id, e.originator_version, e.topic, e.state) for e in awkward
    ]
    assert stored[0][0] < stored[1][0]
    with psycopg.connect(database_url) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{schema}".fired').fetchone() == (1,)


def test_copy_rows_format() -> None:
    event = StoredEvent(uuid.UUID(int=1), 3, "a\\b", b"\x00\xff")
    assert copy_rows([event]) == "00000000-0000-0000-0000-000000000001\t3\ta\\\\b\t\\\\x00ff\n"
