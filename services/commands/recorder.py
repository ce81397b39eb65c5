"""``CopyApplicationRecorder``: eventsourcing's PostgreSQL recorder, inserting with COPY.

eventsourcing inserts a transaction's events as one array of a composite type,
which psycopg dumps element by element in Python -- the largest single cost of
storing a batch of commands. This recorder writes the same rows with one
``COPY ... FROM STDIN`` in text format instead (one string built with C-level
``str`` operations), inside the same transaction as eventsourcing's: the
table's EXCLUSIVE lock first (so notification ids are issued in commit order),
the same ``NOTIFY``, then the rows in the given order. The table, its columns,
the rows and their notification ids are exactly what eventsourcing writes, and
COPY fires the table's INSERT triggers. A duplicate (originator id, version)
fails the whole transaction with eventsourcing's ``IntegrityError`` (a
``RecordConflictError``), as the INSERT does. ``BEGIN``, the lock statements and
the ``NOTIFY`` go as one simple query (one round trip, not two), and a failed
transaction is rolled back before its connection returns to the pool.

Only ``insert_events`` changes; reading is eventsourcing's.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier

#: Rows per ``write`` call of the COPY (bounds the size of each string built).
_CHUNK = 1000

_COMMIT = SQL("COMMIT")

#: COPY text format: the characters a value must escape (a backslash first).
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


def _text(value: str) -> str:
    """``value`` escaped for a COPY text-format field."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        for char, escaped in _ESCAPES:
            value = value.replace(char, escaped)
    return value


def copy_rows(stored_events: Sequence[StoredEvent]) -> str:
    """The COPY text-format lines of ``stored_events`` (id, version, topic, state as bytea hex)."""
    return "".join(
        f"{_text(str(e.originator_id))}\t{e.originator_version:d}\t{_text(e.topic)}\t\\\\x{e.state.hex()}\n"
        for e in stored_events
    )


class CopyApplicationRecorder(PostgresApplicationRecorder):
    """A ``PostgresApplicationRecorder`` whose ``insert_events`` uses COPY (see the module)."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        """Prepare eventsourcing's statements and the COPY for ``events_table_name``."""
        super().__init__(datastore, events_table_name=events_table_name)
        table = (Identifier(datastore.schema), Identifier(self.events_table_name))
        self.copy_statement = SQL(
            "COPY {}.{} (originator_id, originator_version, topic, state) FROM STDIN"
        ).format(*table)
        # One round trip: the transaction's start, eventsourcing's lock statements and its
        # notification, as one simple query (``BEGIN`` alone was a round trip of its own).
        self.begin_lock_and_notify_statement = SQL("; ").join(
            [
                SQL("BEGIN"),
                *self.lock_table_statements,
                SQL("NOTIFY {}").format(Identifier(self.channel_name)),
            ]
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert ``stored_events`` in one transaction; returns None (no notification ids)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if not stored_events:
                with conn.transaction():
                    self._insert_events(curs, stored_events, **kwargs)
                return None
            try:
                curs.execute(self.begin_lock_and_notify_statement)
                self._insert_events(curs, stored_events, **kwargs)
                with curs.copy(self.copy_statement) as copy:
                    for start in range(0, len(stored_events), _CHUNK):
                        copy.write(copy_rows(stored_events[start : start + _CHUNK]))
                curs.execute(_COMMIT)
            except BaseException:
                # Not left open for the pool; a broken connection is dropped by it anyway.
                with suppress(psycopg.Error):
                    if conn.info.transaction_status != TransactionStatus.IDLE:
                        conn.rollback()
                raise
        return None
