"""Park and continue: what the read models and the mirror decide for a record they cannot apply."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.records import Record, parse_record, record_hash, signing_input
from certlife.projections.answer import answer_status
from certlife.projections.batch import Message, select_new
from certlife.projections.parking import (
    DATABASE_REFUSED,
    MAX_MESSAGE,
    UNMAPPABLE,
    content_parked,
    printable,
    refused_parked,
    split_admissible,
    storable,
)
from certlife.projections.savepoints import write_or_park
from certlife.projections.tracking import Position
from tests.unit.logbuilder import LogBuilder, certificate

pytestmark = pytest.mark.unit

LOG, CPS = "p.certlife.log.v1", "p.certlife.checkpoints.v1"
NUL_HOLDER = "Volt\u0000ara GmbH"


def append_unchecked(
    b: LogBuilder,
    number: str,
    event: str,
    status: str,
    *,
    reason: str | None = None,
    **cert: Any,
) -> bytes:
    """Append a validly signed, chained record that the record builders would refuse to sign.

    ``cert`` overrides certificate members (e.g. a holder with U+0000, or not a string).
    """
    seq, prev, _ = b.chains.get(number, (0, None, None))
    index = len(b.records)
    record: dict[str, Any] = {
        "v": 1,
        "origin": b.origin,
        "index": index,
        "kind": "certificate",
        "keyId": b.signer.key_id,
        "certificate": {**certificate(number), **cert},
        "event": event,
        "status": status,
        "seq": seq + 1,
        "prev": prev,
        "reason": reason,
        "effectiveAt": b.time(index),
        "recordedAt": b.time(index),
    }
    record["sig"] = base64.b64encode(b.signer.sign(signing_input(record))).decode("ascii")
    raw = canonical_bytes(record)
    parse_record(raw)  # structurally a valid record
    b.records.append(raw)
    b.chains[number] = (seq + 1, record_hash(raw), status)
    return raw


def _messages(values: list[bytes]) -> list[Message]:
    return [Message(LOG, 0, offset, raw) for offset, raw in enumerate(values)]


def test_select_parks_inadmissible_and_unparseable_records_and_moves_on() -> None:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    append_unchecked(b, "BAD-1", "issued", "valid", holder=NUL_HOLDER)
    garbage = b'{"not": "a record"}'
    b.add("B-1", "issued", "valid", index=3)  # the garbage message stands at index 2
    values = [b.records[0], b.records[1], garbage, b.records[2]]

    records, parked, position = select_new(_messages(values), Position(1), LOG, CPS)

    assert [r.index for r in records] == [0, 3]
    assert [(p.index, p.code, p.number) for p in parked] == [
        (1, "inadmissible-text", "BAD-1"),
        (2, "not-canonical", None),
    ]
    assert "U+0000" in parked[0].message and parked[0].raw == values[1] and parked[1].raw == garbage
    assert position.log_index == 3 and position.offsets == {(LOG, 0): 4}
    # Redelivered: nothing is new, nothing is parked again.
    again, parked_again, same = select_new(_messages(values), position, LOG, CPS)
    assert (again, parked_again, same.log_index) == ([], [], 3)
    # Records again at new offsets (stored offsets lost): the index guard drops them, and
    # a message that is not a record but has a readable index at or below it too.
    repeats = [b.records[0], b.records[1], b'{"index":2,"kind":"?"}', b.records[2]]
    shifted = [Message(LOG, 0, 100 + i, raw) for i, raw in enumerate(repeats)]
    assert select_new(shifted, position, LOG, CPS)[:2] == ([], [])
    # Without a readable index, such a message can only be the next record.
    _, [next_one], after = select_new([Message(LOG, 0, 200, garbage)], position, LOG, CPS)
    assert next_one.index == after.log_index == 4


def test_a_malformed_checkpoint_note_is_skipped() -> None:
    notes = [Message(CPS, 0, 0, b"garbage"), Message(CPS, 0, 1, b"o\n7\nroot\n\n- o sig\n")]
    _, _, position = select_new(notes, Position(1), LOG, CPS)
    assert position.checkpoint_size == 7 and position.offsets == {(CPS, 0): 2}


def test_content_rule_parks_certificate_records_only() -> None:
    b = LogBuilder()
    clean = parse_record(b.add("A-1", "issued", "valid"))
    rotation = parse_record(b.rotate("k1"))
    bad_reason = parse_record(append_unchecked(b, "A-1", "suspended", "suspended", reason="audit\u0007"))
    not_nfc = parse_record(append_unchecked(b, "C-1", "issued", "valid", scope="A\u0308"))
    bad_number = parse_record(append_unchecked(b, "\u0421CC-1", "issued", "valid"))

    assert content_parked(clean) is None and content_parked(rotation) is None
    applicable, parked = split_admissible([clean, rotation, bad_reason, not_nfc, bad_number])
    assert applicable == [clean, rotation]
    assert [(p.index, p.code, p.number) for p in parked] == [
        (2, "inadmissible-text", "A-1"),
        (3, "text-not-nfc", "C-1"),
        (4, "number-invalid", "\u0421CC-1"),  # storable, so the certificate is marked
    ]


def test_refusals_become_parkings_with_storable_messages() -> None:
    record = parse_record(append_unchecked(LogBuilder(), "BAD-1", "issued", "valid", holder=NUL_HOLDER))
    refused = refused_parked(record, asyncpg.CharacterNotInRepertoireError("invalid byte sequence: 0x00"))
    assert (refused.index, refused.code, refused.number) == (0, DATABASE_REFUSED, "BAD-1")
    assert refused.message.startswith("SQLSTATE 22021: ")
    unmappable = refused_parked(record, ValueError("bad\u0000value " + "x" * 5000))
    assert unmappable.code == UNMAPPABLE and "\\x00" in unmappable.message
    assert storable(unmappable.message) is not None and len(unmappable.message) == MAX_MESSAGE
    assert [storable(v) for v in ("ok", "a\u0000b", "\ud800", 42)] == ["ok", None, None, None]
    assert "record 0 (certificate BAD-1) parked, database-refused" in refused.describe()
    # Nothing from a record reaches a log line or a terminal unescaped.
    assert printable("a\x1b[2J\u202e\nb é") == "a\\x1b[2J\\u202e\\x0ab é"
    escape = parse_record(append_unchecked(LogBuilder(), "E\x1b]0;x\x07", "issued", "valid"))
    assert "\x1b" not in (content_parked(escape) or refused).describe()


class _Savepoints:
    """Just enough of an asyncpg connection for ``write_or_park``: savepoints over a list."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.writes = 0

    @contextlib.asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        kept = list(self.rows)
        try:
            yield
        except BaseException:
            self.rows = kept  # ROLLBACK TO SAVEPOINT
            raise

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._savepoint()


async def test_bisection_parks_exactly_the_refused_records_and_writes_the_rest() -> None:
    b = LogBuilder()
    for i in range(40):
        b.add(f"C-{i:04d}", "issued", "valid")
    records = [parse_record(r) for r in b.records]
    bad = {3, 17, 18, 39}
    conn = _Savepoints()

    async def write(part: Sequence[Record]) -> None:
        conn.writes += 1
        for r in part:
            conn.rows.append(r.index)
            if r.index in bad:
                raise asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding")

    parked = await write_or_park(conn, write, records)  # type: ignore[arg-type]
    assert [p.index for p in parked] == sorted(bad)
    assert {p.code for p in parked} == {DATABASE_REFUSED}
    assert sorted(conn.rows) == [i for i in range(40) if i not in bad]  # each good record once
    assert conn.writes < 40  # bisection, not one write per record

    clean = _Savepoints()

    async def write_clean(part: Sequence[Record]) -> None:
        clean.writes += 1
        clean.rows += [r.index for r in part]

    assert await write_or_park(clean, write_clean, records) == []  # type: ignore[arg-type]
    assert clean.writes == 1


async def test_other_errors_are_not_parked() -> None:
    records = [parse_record(r) for r in (LogBuilder().add("A-1", "issued", "valid"),)]

    async def lost(part: Sequence[Record]) -> None:
        raise ConnectionResetError("server closed the connection")

    with pytest.raises(ConnectionResetError):
        await write_or_park(_Savepoints(), lost, records)  # type: ignore[arg-type]


def test_an_unavailable_row_answers_unavailable_with_the_parked_record() -> None:
    now = datetime(2027, 6, 1, tzinfo=UTC)
    row = {
        "status": "unavailable",
        "parked_index": 12,
        "log_index": 12,
        "valid_until": None,
        "recorded_at": datetime(2027, 5, 1, tzinfo=UTC),  # the last applied record's, stale
    }
    parked = {"index": 12, "certificate": "BAD-1", "code": "inadmissible-text", "message": "holder: U+0000"}
    answer = answer_status("BAD-1", row, 20, None, now, parked)
    assert (answer.status, answer.index, answer.checkpoint_size, answer.recorded_at) == (
        "unavailable",
        12,
        20,
        None,
    )
    assert answer.note == "record 12 parked: inadmissible-text: holder: U+0000"
    data = answer.to_json()
    assert data["status"] == "unavailable" and data["parked"]["index"] == 12
    assert answer_status("BAD-1", row, 12, None, now).checkpoint is None  # not yet covered
