"""The end-to-end benchmark's read-model clock: a polled stored position, resolved per record."""

from bench.bench_e2e import ModelTimeline, _on_model


def test_a_record_is_in_the_read_model_from_the_first_poll_whose_position_reached_its_index() -> None:
    timeline = ModelTimeline()
    for now, position in ((1.0, -1), (1.01, 4), (1.02, 4), (1.03, 9), (1.04, 7), (1.05, 12)):
        timeline.add(now, position)
    assert timeline.positions == [-1, 4, 9, 12]  # kept only when it moved on (a stale read is dropped)
    assert timeline.position == 12
    expected = [1.01, 1.01, 1.03, 1.03, 1.05, 1.05, None]
    assert [timeline.reached(i) for i in (0, 4, 5, 9, 10, 12, 13)] == expected


def test_commands_without_a_log_index_or_beyond_the_position_have_no_read_model_time() -> None:
    timeline = ModelTimeline()
    timeline.add(2.0, 3)
    sent = {"A": 1.5, "B": 1.6, "C": 1.7}
    assert _on_model(timeline, {"A": 3, "C": 4}, sent) == {"A": 2.0}
    assert ModelTimeline().position == -1 and ModelTimeline().reached(0) is None
