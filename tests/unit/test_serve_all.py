"""``certctl serve all``'s options and the supervisor's restart policy, without processes.

Options another service does not take, an unknown ``--only`` name and a
malformed variable are one line before anything starts; the backoff doubles
from 0.5 s to its cap, starts over after a stable run, and a crash loop is
reported once and then retried only every ``crash_loop_delay`` seconds.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from certlife.services.cli import certctl, serve_all
from certlife.services.infra import supervisor as sup
from certlife.services.infra.supervisor import RestartPolicy, Supervisor, describe_exit

pytestmark = pytest.mark.unit


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    def started(*_: object) -> None:
        raise AssertionError("a service started")

    monkeypatch.setattr(serve_all, "Supervisor", started)
    with pytest.raises(SystemExit) as exited:
        certctl.main(["serve", *argv])
    assert exited.value.code in (1, 2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_unknown_only_and_options_of_all_elsewhere_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    err = _refused(["all", "--only", "relay,nope"], capsys, monkeypatch)
    assert "--only: nope is not a service serve all runs (choose from commands, relay" in err
    err = _refused(["relay", "--only", "relay"], capsys, monkeypatch)
    assert err == "certctl: error: certctl serve relay takes no --only (only all)\n"
    err = _refused(["projections", "--log-dir", "x"], capsys, monkeypatch)
    assert err == "certctl: error: certctl serve projections takes no --log-dir (only all)\n"


def test_a_malformed_variable_is_one_line_before_anything_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTLIFE_RELAY_BATCH", "many")
    err = _refused(["all"], capsys, monkeypatch)
    assert "CERTLIFE_RELAY_BATCH" in err and "'many'" in err


def test_only_keeps_start_order_and_fixed_metrics_ports_are_consecutive() -> None:
    assert serve_all.chosen("publisher, commands,relay") == ["commands", "relay", "publisher"]
    assert serve_all.chosen(None) == list(serve_all.available())
    assert serve_all.available()[:4] == ("commands", "relay", "projections", "publisher")
    envs = serve_all.child_envs(["commands", "relay"], {"A": "1"}, 9400)
    assert [envs[n]["CERTLIFE_METRICS_PORT"] for n in ("commands", "relay")] == ["9400", "9401"]
    assert "CERTLIFE_METRICS_PORT" not in serve_all.child_envs(["relay"], {}, 0)["relay"]


def test_exit_descriptions() -> None:
    assert describe_exit(1) == "exit status 1"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-15) == "killed by SIGTERM"


class FakeProcess:
    """Stands in for a ServiceProcess: starts instantly, exits when told."""

    def __init__(self, name: str) -> None:
        self.name, self.service, self.log_path = name, name, Path(f"/nonexistent/{name}.log")
        self.parent_death_signal: int | None = None
        self.returncode: int | None = None
        self.pid: int | None = None
        self.starts = 0
        self.restarts: list[bool] = []

    def start(self, *, restart: bool = False) -> FakeProcess:
        self.starts += 1
        self.restarts.append(restart)
        self.pid, self.returncode = 1000 + self.starts, None
        return self

    def running(self) -> bool:
        return self.returncode is None

    def last_line(self) -> str:
        return "certctl: error: cannot read the passphrase file"


def test_backoff_doubles_resets_after_a_stable_run_and_a_crash_loop_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = RestartPolicy(
        first_delay=0.5, max_delay=4, stable_after=10, crash_loop_after=5, crash_loop_delay=60
    )
    proc = FakeProcess("relay")
    supervisor = Supervisor([proc], policy)  # type: ignore[list-item]
    child = supervisor._children[0]
    assert proc.parent_death_signal is not None  # it dies with the supervisor
    caplog.set_level(logging.DEBUG, logger=sup.log.name)
    now = 0.0
    supervisor._launch(child, now)

    def crash(after: float, status: int = 1) -> float:
        """The child exits ``after`` seconds into its run; the delay before its next start."""
        nonlocal now
        now += after
        proc.returncode = status
        supervisor._watch(child, now)
        assert child.due is not None
        delay = child.due - now
        now = child.due
        supervisor._watch(child, now)  # due: started again
        assert proc.running()
        return delay

    assert crash(30, -9) == 0.5  # after a stable run: the first delay
    assert [crash(1) for _ in range(5)] == [1, 2, 4, 4, 60]  # doubling to the cap; 5th quick exit: loop
    assert "relay exited (killed by SIGKILL) after 30.0 s; restart 1 in 0.5 s" in caplog.text
    assert caplog.text.count("relay cannot start") == 1
    assert "ended 5 times in a row" in caplog.text and "cannot read the passphrase file" in caplog.text
    assert crash(1) == 60 and crash(2) == 60  # quietly, at the crash-loop delay
    assert caplog.text.count("relay cannot start") == 1
    assert supervisor.restarts("relay") == 8 and proc.starts == 9
    assert proc.restarts == [False] + [True] * 8  # a restart waits out an outage (serve --restarted)
    now += 11  # up long enough: it runs again, and the backoff starts over
    supervisor._watch(child, now)
    assert "relay runs again" in caplog.text
    assert crash(1) == 0.5


def test_every_supervised_service_is_one_certctl_serve_runs() -> None:
    from certlife.services.cli.serve_all import SUPERVISED
    from certlife.services.cli.serve_cmd import SERVICES

    assert set(SUPERVISED) <= set(SERVICES) - {"all"}


def test_children_get_a_static_membership_id_per_service_unless_one_is_set() -> None:
    envs = serve_all.child_envs(["commands", "projections"], {}, None)
    ids = [envs[n]["CERTLIFE_GROUP_INSTANCE_ID"] for n in ("commands", "projections")]
    assert ids[0].endswith("-commands") and ids[1].endswith("-projections") and ids[0] != ids[1]
    given = serve_all.child_envs(["commands"], {"CERTLIFE_GROUP_INSTANCE_ID": "mine"}, None)
    assert given["commands"]["CERTLIFE_GROUP_INSTANCE_ID"] == "mine"


def test_each_child_may_have_its_own_database_role() -> None:
    env = {
        "CERTLIFE_DATABASE_URL": "postgresql://owner:pw@db/certs",
        "CERTLIFE_API_DATABASE_URL": "postgresql://certlife_reader:pw@db/certs",
        "CERTLIFE_RELAY_DATABASE_URL": "postgresql://certlife_relay:pw@db/certs",
    }
    envs = serve_all.child_envs(["commands", "relay", "api"], env, None)
    urls = {name: envs[name]["CERTLIFE_DATABASE_URL"] for name in envs}
    assert urls == {
        "commands": "postgresql://owner:pw@db/certs",
        "relay": "postgresql://certlife_relay:pw@db/certs",
        "api": "postgresql://certlife_reader:pw@db/certs",
    }
    assert set(serve_all.DATABASE_URLS) == set(serve_all.available())


def test_a_bad_child_database_url_is_one_line_naming_its_variable() -> None:
    import subprocess
    import sys

    env = dict(os.environ, CERTLIFE_API_DATABASE_URL="mysql://reader:secret-pw@db/x")
    done = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "all", "--only", "api"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # as for CERTLIFE_DATABASE_URL itself
    assert "CERTLIFE_API_DATABASE_URL must be a postgresql://" in done.stderr
    assert "secret-pw" not in done.stderr and "Traceback" not in done.stderr
