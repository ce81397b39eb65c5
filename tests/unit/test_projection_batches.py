"""One read of a batch for every projection, the JSON rows, and one batch in flight at a time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import asyncpg
import orjson
import pytest

from certlife.contracts.records import parse_record
from certlife.projections.batch import Message, read_messages, select_new, select_read
from certlife.projections.inflight import InFlight
from certlife.projections.mapping import current_row, fold_current
from certlife.projections.recordset import recordset_select, rows_json
from certlife.projections.tracking import Position
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit

ISSUER = "certlife.example"
LOG, CPS = "p.certlife.log.v1", "p.certlife.checkpoints.v1"


def _messages() -> list[Message]:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.add("B-1", "issued", "valid")
    b.add("C-1", "issued", "valid", index=3)  # the message that is not a record stands at index 2
    b.add("A-1", "suspended", "suspended", reason="audit", index=4)
    values = [*b.records[:2], b'{"not": "a record"}', *b.records[2:]]
    # Delivered out of order, with a checkpoint: the read sorts by (topic, partition, offset).
    log = [Message(LOG, 0, offset, raw) for offset, raw in enumerate(values)]
    return [*reversed(log), Message(CPS, 0, 0, b"o\n4\nroot\n\n- o sig\n")]


def test_one_read_gives_each_position_what_select_new_gives_it() -> None:
    messages = _messages()
    reads = read_messages(messages, LOG, CPS)
    behind, ahead = Position(1), Position(2, log_index=1, offsets={(LOG, 0): 2})
    for position in (behind, ahead):
        assert select_read(reads, position) == select_new(messages, position, LOG, CPS)
    records, parked, new = select_read(reads, behind)
    assert [r.index for r in records] == [0, 1, 3, 4] and [p.index for p in parked] == [2]
    assert (new.log_index, new.checkpoint_size, behind.log_index) == (4, 4, -1)  # the input is not changed
    assert [r.index for r in select_read(reads, ahead)[0]] == [3, 4]


def test_the_fold_maps_only_the_newest_record_of_each_certificate_with_the_same_result() -> None:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.add("A-1", "suspended", "suspended", reason="audit")
    b.add("A-1", "amended", "suspended")
    b.add("A-1", "renewed", "suspended")
    records = [parse_record(r) for r in b.records]
    before = None
    for record in records:
        before = current_row(record, ISSUER, before)
    assert fold_current(records, ISSUER) == {"A-1": before}
    assert before is not None and before.suspension_reason == "audit"


def test_json_rows_keep_every_value_as_a_copy_would_write_it() -> None:
    sql = recordset_select(("n", "at", "tags", "doc"), ("bigint", "timestamptz", "text[]", "jsonb"))
    assert sql == (
        "SELECT u.n, u.at, u.tags, u.doc FROM jsonb_to_recordset($1::jsonb) "
        "AS u(n bigint, at timestamptz, tags text[], doc jsonb)"
    )
    at = datetime(2026, 2, 1, 8, 30, 0, 250, tzinfo=timezone(timedelta(hours=8)))
    items = ['a"b', "c\\d", "e,f", "{g}", "NULL", " h ", "ü€𝄞", ""]
    text = rows_json([(1, at, items, '{"k":[1,"x"]}'), (2, None, [], None)], ("n", "at", "tags", "doc"),
                     ("bigint", "timestamptz", "text[]", "jsonb"))  # fmt: skip
    assert orjson.loads(text) == [
        {"n": 1, "at": "2026-02-01T08:30:00.000250+08:00", "tags": items, "doc": {"k": [1, "x"]}},
        {"n": 2, "at": None, "tags": [], "doc": None},
    ]
    assert rows_json([], ("n",), ("bigint",)) == "[]"


@pytest.mark.parametrize(
    ("value", "type_"),
    [
        (7, "text"),
        ("7", "integer"),
        ("2026-01-01", "timestamptz"),
        (["M-1", 7], "text[]"),
        (["M-1", None], "text[]"),
        ("M-1", "text[]"),
    ],
)
def test_a_value_its_column_does_not_take_is_refused_as_asyncpg_refuses_an_argument(
    value: object, type_: str
) -> None:
    with pytest.raises(asyncpg.DataError, match="invalid input for column c"):
        rows_json([(value,)], ("c",), (type_,))


def test_a_value_json_cannot_hold_is_refused_as_asyncpg_refuses_an_argument() -> None:
    with pytest.raises(asyncpg.DataError, match="not encodable"):
        rows_json([("\ud800",)], ("c",), ("text",))


def test_batches_in_flight_run_one_at_a_time_in_order() -> None:
    async def run() -> list[str]:
        events: list[str] = []
        inflight = InFlight()

        async def batch(name: str) -> None:
            events.append(f"start {name}")
            await asyncio.sleep(0)
            events.append(f"end {name}")

        for name in ("1", "2", "3"):
            await inflight.start(batch(name))
            events.append(f"read after {name}")
        await inflight.settle()
        return events

    events = asyncio.run(run())
    assert [e for e in events if not e.startswith("read")] == [
        "start 1", "end 1", "start 2", "end 2", "start 3", "end 3",
    ]  # fmt: skip
    # The next batch is read while the one before it is in flight.
    assert events.index("read after 1") < events.index("end 1")
