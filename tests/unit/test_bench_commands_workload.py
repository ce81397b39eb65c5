"""The command-service benchmark compares batched and one-per-transaction runs on the same mix of commands."""

from collections import Counter

import orjson

from bench.bench_commands import Result, _side_by_side_figures, _SideBySide, single_workload, workload


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


def _run(label: str, commands: int, seconds: float) -> Result:
    return Result(label, commands, seconds, Counter(accepted=commands), [], cpu_seconds=commands * 2e-4)


def test_side_by_side_services_are_set_against_both_baselines_at_their_median_run() -> None:
    beside = _SideBySide(
        "2 services side by side, batched",
        [
            _run("2 services side by side, batched, run 1", 10_000, 2.0),
            _run("2 services side by side, batched, run 2", 10_000, 1.0),
            _run("2 services side by side, batched, run 3", 10_000, 1.6),
        ],
        _run("2 side by side, one per transaction", 400, 2.0),
    )
    extra: dict[str, object] = {}
    one_service = _run("one per transaction", 400, 4.0)
    against_one, against_pair = _side_by_side_figures(beside, one_service, extra)
    assert against_one.name == against_pair.name == "2 services side by side, batched"
    assert against_one.value == against_pair.value == 6_250  # the median run: 10,000 in 1.6 s
    assert against_one.baseline == 100 and against_one.ratio == 62.5
    assert against_pair.baseline == 200 and against_pair.ratio == 31.25
    assert extra["2 services side by side, batched runs (commands/s; the figure is their median)"] == (
        "5,000, 10,000, 6,250"
    )


def test_without_side_by_side_runs_nothing_is_added() -> None:
    extra: dict[str, object] = {}
    assert _side_by_side_figures(None, _run("one per transaction", 400, 4.0), extra) == []
    assert extra == {}
