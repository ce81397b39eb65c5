"""The chaos suite's short version: ``./dev chaos --minutes 1``, on one broker and on the 3-node cluster.

Each run starts its own Kafka and PostgreSQL (ports of its own, never the
session's stack) and runs the services under ``certctl serve all`` with steady
mixed load and exact re-sends. The single broker's run injects one SIGKILL of
each service, a 10 s broker outage and a 10 s PostgreSQL outage; the cluster's
(``--brokers 3 --pg-replica --faults cluster``) a SIGKILL of the node leading the
log partition and of the active controller (each back 10 s later), and the
PostgreSQL primary killed with its synchronous replica promoted, and checks that
every topic ends with three in-sync replicas. Every
invariant is asserted here from the report's data (``report.json``), not from
its verdict alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.procs import ROOT

pytestmark = pytest.mark.integration


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in report["checks"] if c["name"] == name]
    assert len(found) == 1, [c["name"] for c in report["checks"]]
    return found[0]


#: The configurations: extra arguments, and the faults each injects.
CONFIGS = {
    "one broker": ([], ["broker-down", "kill", "kill", "kill", "postgres-down"]),
    # The service kills and outages are the single broker's: here the cluster's own faults only.
    "3-node cluster, PostgreSQL failover": (
        ["--brokers", "3", "--pg-replica", "--faults", "cluster"],
        ["controller-kill", "leader-kill", "postgres-failover"],
    ),
}  # fmt: skip


@pytest.mark.timeout(900)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_a_short_chaos_run_keeps_every_invariant(config: str, tmp_path: Path) -> None:
    extra, expected = CONFIGS[config]
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.chaos.main", "--minutes", "1", *extra, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=880,
    )
    print(result.stdout[-6000:])
    assert (out / "report.json").exists(), result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert (out / "timeline.png").stat().st_size > 10_000
    assert "| invariant | held | detail |" in (out / "report.md").read_text()

    outcomes = _check(report, "every commandId has exactly one outcome")["figures"]
    assert outcomes["commandIds"] > 2000 and outcomes["re-sends"] > 100
    assert outcomes["lost"] == outcomes["answers != sends"] == 0
    assert outcomes["re-send answered differently"] == outcomes["outcome without command"] == 0
    assert outcomes["outcome messages"] == outcomes["messages"]
    events = _check(report, "accepted outcomes = event-store events")["figures"]
    assert events["accepted events"] == events["event store events"] > 1000
    log = _check(report, "the log holds indexes 0..N-1 once each, in order")["figures"]
    assert log["out of place"] == 0 and log["log size"] == log["events + key records"]
    verified = _check(report, "certverify log over Kafka verifies every signature")["figures"]
    assert verified["records"] == log["log size"]
    model = _check(report, "read model = status implied by the log")["figures"]
    assert model["differ"] == 0 and model["read model rows"] == model["certificates"] > 500
    assert _check(report, "partner mirror = read model")["figures"]["certificates"] == model["certificates"]
    assert all(c["ok"] for c in report["checks"]), report["checks"]

    if extra:
        replicas = _check(report, "every topic has 3 replicas, all in sync, min.insync.replicas=2")["figures"]
        assert replicas["out of shape"] == 0 and replicas["partitions"] >= 24, replicas  # 9 topics
    kinds = sorted(f["kind"] for f in report["faults"])
    assert kinds == expected
    for fault in report["faults"]:
        assert fault["recovery"] is not None, fault
        assert fault["recovery"] < 60, fault
        if fault["kind"] == "kill":
            assert any("restarted by the supervisor" in n for n in fault["notes"]), fault
    assert report["ok"] and result.returncode == 0, result.stderr[-3000:]
