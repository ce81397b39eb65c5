"""``Intake``: what the command service's consumer loop hands over, taken in order and in batches."""

from __future__ import annotations

import asyncio

import pytest

from certlife.services.commands.intake import Intake


async def test_takes_everything_waiting_in_order_up_to_most() -> None:
    intake: Intake[int] = Intake(100)
    await intake.put([1, 2, 3])
    await intake.put([4, 5])
    assert await intake.take(4) == [1, 2, 3, 4]
    assert await intake.take(4) == [5]
    assert len(intake) == 0


async def test_take_waits_for_the_next_put() -> None:
    intake: Intake[str] = Intake(10)
    taking = asyncio.ensure_future(intake.take(10))
    await asyncio.sleep(0.01)
    assert not taking.done()
    await intake.put(["a", "b"])
    assert await asyncio.wait_for(taking, 1) == ["a", "b"]


async def test_put_waits_while_limit_items_wait_then_goes_on() -> None:
    intake: Intake[int] = Intake(3)
    await intake.put([1, 2, 3])
    putting = asyncio.ensure_future(intake.put([4]))
    await asyncio.sleep(0.01)
    assert not putting.done(), "a full intake must hold the consumer loop back"
    assert await intake.take(2) == [1, 2]
    await asyncio.wait_for(putting, 1)
    assert await intake.take(10) == [3, 4]


async def test_a_put_below_the_limit_is_taken_whole_even_past_it() -> None:
    intake: Intake[int] = Intake(3)
    await intake.put([1, 2])
    await asyncio.wait_for(intake.put([3, 4, 5]), 1)  # two waited: room for the whole batch
    assert len(intake) == 5


async def test_a_cancelled_take_removes_nothing() -> None:
    intake: Intake[int] = Intake(5)
    taking = asyncio.ensure_future(intake.take(5))
    await asyncio.sleep(0.01)
    taking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await taking
    await intake.put([7, 8])
    assert await intake.take(5) == [7, 8]


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_must_be_positive(limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        Intake(limit)


async def test_most_must_be_positive() -> None:
    intake: Intake[int] = Intake(1)
    await intake.put([1])
    with pytest.raises(ValueError, match="most must be at least 1"):
        await intake.take(0)
    assert len(intake) == 1


async def test_drop_removes_what_matches_and_makes_room() -> None:
    intake: Intake[int] = Intake(4)
    await intake.put([1, 2, 3, 4])
    putting = asyncio.ensure_future(intake.put([5]))
    await asyncio.sleep(0.01)
    assert not putting.done()
    assert intake.drop(lambda n: n % 2 == 0) == 2
    await asyncio.wait_for(putting, 1)
    assert await intake.take(10) == [1, 3, 5]


async def test_revoked_partitions_lose_their_waiting_commands() -> None:
    from aiokafka import TopicPartition

    from certlife.services.commands.batch import Inbound
    from certlife.services.commands.service import _DropRevoked

    intake: Intake[Inbound] = Intake(10)
    waiting = [Inbound("commands", p, o, None, b"{}") for p, o in ((0, 5), (1, 7), (0, 6), (2, 1))]
    await intake.put(waiting)
    await _DropRevoked(intake).on_partitions_revoked({TopicPartition("commands", 0)})
    assert [(m.partition, m.offset) for m in await intake.take(10)] == [(1, 7), (2, 1)]
