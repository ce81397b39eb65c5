"""The test session's topic cleanup: what it may delete, and never while another session runs."""

from __future__ import annotations

import fcntl
from pathlib import Path

from tests.topic_cleanup import _alone, deletable


def test_internal_and_default_deployment_topics_are_never_deletable() -> None:
    names = {
        "__consumer_offsets",
        "__transaction_state",
        "certlife.log.v1",
        "tab12.certlife.log.v1",
        "demo1.x",
    }
    assert deletable(names) == ["demo1.x", "tab12.certlife.log.v1"]


def test_a_session_is_alone_only_when_no_other_holds_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "sessions.lock"
    with open(lock, "a") as other, open(lock, "a") as mine:
        fcntl.flock(other, fcntl.LOCK_SH)  # another session, still running
        fcntl.flock(mine, fcntl.LOCK_SH)
        assert not _alone(mine)
        fcntl.flock(other, fcntl.LOCK_UN)  # it ended
        assert _alone(mine)
