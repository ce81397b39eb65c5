"""Per-client token buckets of the status API."""

from __future__ import annotations

import pytest

from certlife.services.api.ratelimit import TokenBuckets

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate_per_client() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 1]
    assert buckets.take("b") == 0  # another client has its own bucket
    clock.now += 0.5  # one token back at 2 a second
    assert buckets.take("a") == 0 and buckets.take("a") == 1
    clock.now += 10  # refills up to the burst, no more
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 1]


def test_retry_after_is_whole_seconds_until_a_token() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=0.25, burst=1, clock=clock)
    assert buckets.take("a") == 0
    assert buckets.take("a") == 4
    clock.now += 3.5
    assert buckets.take("a") == 1


def test_rate_zero_is_no_limit_and_old_clients_are_forgotten() -> None:
    assert all(TokenBuckets(rate=0, burst=1).take("a") == 0 for _ in range(100))
    clock = Clock()
    buckets = TokenBuckets(rate=1, burst=1, max_clients=2, clock=clock)
    assert buckets.take("a") == 0 and buckets.take("a") == 1
    buckets.take("b")
    buckets.take("c")  # "a" was the least recently used: forgotten, full again
    assert buckets.take("a") == 0
