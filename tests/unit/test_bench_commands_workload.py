"""The command-service benchmark compares batched and one-per-transaction runs on the same mix of commands."""

from collections import Counter

import orjson

from bench.bench_commands import single_workload, workload


def _shares(messages: list[tuple[bytes, bytes]]) -> dict[str, float]:
    kinds = Counter(orjson.loads(value)["type"] for _, value in messages)
    return {kind: count / len(messages) for kind, count in kinds.items()}


def test_a_capped_one_per_transaction_run_decides_the_batched_runs_mix() -> None:
    batched = workload(20_000, 1)
    single = single_workload(batched, 5_000, 1)
    assert len(single) == 5_000
    full, capped = _shares(batched), _shares(single)
    assert set(capped) == set(full)
    # The first 5,000 of the batched commands are about 84 % issues against 50 % overall.
    assert all(abs(capped[kind] - full[kind]) < 0.02 for kind in full), (capped, full)


def test_without_a_smaller_cap_the_one_per_transaction_run_takes_the_same_commands() -> None:
    batched = workload(1_000, 1)
    assert single_workload(batched, None, 1) is batched
    assert single_workload(batched, 1_000, 1) is batched
    assert single_workload(batched, 5_000, 1) is batched
