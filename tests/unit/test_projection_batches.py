"""One read of a batch for every projection, the staged live rows, and one batch in flight at a time."""

from __future__ import annotations

import asyncio
import gc
from typing import cast

import asyncpg
import pytest

from certlife.contracts.errors import ContractError
from certlife.contracts.records import parse_record
from certlife.projections.batch import Message, read_messages, select_new, select_read
from certlife.projections.gcpolicy import YOUNG_THRESHOLD, tune_collector
from certlife.projections.inflight import InFlight
from certlife.projections.mapping import current_row, fold_current
from certlife.projections.recognised import read_record
from certlife.projections.staging import copy_rows, merge_sql, stage_sql
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


def test_live_rows_go_through_a_stage_the_merge_empties() -> None:
    create = stage_sql("s_stage", ("n", "tags"), ("bigint", "text[]"))
    assert create == "CREATE TEMP TABLE IF NOT EXISTS s_stage (n bigint, tags text[]) ON COMMIT DELETE ROWS"
    merge = merge_sql("s_stage", "INSERT INTO t (n) SELECT n FROM staged")
    assert merge == "WITH staged AS (DELETE FROM s_stage RETURNING *) INSERT INTO t (n) SELECT n FROM staged"


class _Refusing:
    """A connection whose COPY fails as asyncpg's encoder fails on a value of the wrong type."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.settings = object()
        self.codecs: list[str] = []

    def get_settings(self) -> object:
        return self.settings

    async def set_type_codec(self, typename: str, **kwargs: object) -> None:
        self.codecs.append(typename)

    async def copy_records_to_table(self, *args: object, **kwargs: object) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error", [TypeError("expected str, got int"), ValueError("invalid array element"), OverflowError("int32")]
)
def test_a_value_copy_cannot_encode_is_refused_as_asyncpg_refuses_an_argument(error: Exception) -> None:
    conn = cast(asyncpg.Connection, _Refusing(error))
    with pytest.raises(asyncpg.DataError, match="invalid input for COPY to s_stage"):
        asyncio.run(copy_rows(conn, "s_stage", ("n",), [(1,)]))
    refused = asyncpg.CharacterNotInRepertoireError("0x00")
    with pytest.raises(asyncpg.CharacterNotInRepertoireError):
        asyncio.run(copy_rows(cast(asyncpg.Connection, _Refusing(refused)), "s_stage", ("n",), [(1,)]))


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


def test_with_depth_two_a_batch_queues_behind_the_one_in_flight_and_the_next_is_read_meanwhile() -> None:
    async def run() -> list[str]:
        events: list[str] = []
        inflight = InFlight(2)
        gates = {name: asyncio.Event() for name in ("1", "2", "3", "4")}

        async def batch(name: str) -> None:
            events.append(f"start {name}")
            await gates[name].wait()  # PostgreSQL still working on it
            events.append(f"end {name}")

        async def release() -> None:
            for name in gates:
                await asyncio.sleep(0.01)
                gates[name].set()

        releasing = asyncio.create_task(release())
        for name in ("1", "2", "3", "4"):
            await inflight.start(batch(name))
            events.append(f"read after {name}")
        await inflight.settle()
        await releasing
        return events

    events = asyncio.run(run())
    assert [e for e in events if not e.startswith("read")] == [
        "start 1", "end 1", "start 2", "end 2", "start 3", "end 3", "start 4", "end 4",
    ]  # fmt: skip
    # Two batches are started (one written, one queued) before the first is done ...
    assert events.index("read after 2") < events.index("end 1")
    # ... and no more: the third waits for a place.
    assert events.index("read after 3") > events.index("end 1")
    assert events.index("read after 3") < events.index("end 2")


def test_settle_waits_for_every_batch_in_flight_and_depth_is_at_least_one() -> None:
    async def run() -> list[str]:
        done: list[str] = []
        inflight = InFlight(3)

        async def batch(name: str) -> None:
            await asyncio.sleep(0.005)
            done.append(name)

        for name in ("a", "b", "c"):
            await inflight.start(batch(name))
        await inflight.settle()
        return done

    assert asyncio.run(run()) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="at least 1"):
        InFlight(0)


def test_read_record_is_parse_record_whichever_path_it_takes() -> None:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.add("A-1", "suspended", "suspended", reason='audit "q" \\ é')  # escapes: the general pattern
    b.rotate("k1")  # a key record: the full path
    b.add("B-1", "issued", "valid", index=3)
    for raw in b.records:
        assert read_record(raw) == parse_record(raw)
    for bad in (b"not json", b'{"index": 1}', b.records[0] + b" ", b.records[0].replace(b'"v":1', b'"v":2')):
        with pytest.raises(ContractError) as expected:
            parse_record(bad)
        with pytest.raises(ContractError) as got:
            read_record(bad)
        assert (type(got.value), got.value.code, str(got.value)) == (
            type(expected.value),
            expected.value.code,
            str(expected.value),
        )


def test_the_collector_freezes_start_up_and_collects_the_young_generation_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (max(YOUNG_THRESHOLD, before[0]), *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
