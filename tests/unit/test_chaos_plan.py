"""The chaos suite's fault plans and its option checks (no stack is started)."""

from __future__ import annotations

import pytest

from certlife.services.chaos import main
from certlife.services.chaos.faults import plan


def test_full_and_short_plans_kill_each_service_and_take_each_endpoint_down() -> None:
    full = [f.kind for f in plan(True, 3, True, 60)]
    assert full.count("kill") == 9 and full.count("broker-down") == full.count("postgres-down") == 1
    assert full[-3:] == ["leader-kill", "controller-kill", "postgres-failover"]
    short = [(f.kind, f.target) for f in plan(False, 1, False, 10)]
    assert short == [
        ("kill", "commands"), ("kill", "relay"), ("kill", "projections"), ("broker-down", ""), ("postgres-down", ""),
    ]  # fmt: skip


def test_cluster_faults_only() -> None:
    kinds = [f.kind for f in plan(False, 3, True, 10, cluster_only=True)]
    assert kinds == ["leader-kill", "controller-kill", "postgres-failover"]


def test_cluster_faults_need_a_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(["--faults", "cluster"])
    assert exited.value.code == 2
    assert "--faults cluster needs --brokers 3" in capsys.readouterr().err
