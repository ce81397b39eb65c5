"""``certctl serve all``: the command service, relay, projections, publisher and API under one supervisor.

Each service runs as its own child process, ``certctl serve NAME``, with the
supervisor's environment, and writes to ``DIR/NAME.log`` (``--log-dir``, default
``$CERTLIFE_HOME/logs``); the supervisor's own lines (starts, restarts, a crash
loop, stops) go to standard error. A malformed ``CERTLIFE_*`` variable is one
line before anything starts. With ``CERTLIFE_METRICS_PORT`` set to a port P, the
children get P, P+1, ... in start order (0 stays "any free port"). Restart and
stop policy: :mod:`certlife.services.infra.supervisor`. SIGTERM or Ctrl-C stops
every child, in reverse order, and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
from pathlib import Path

from certlife.services.cli.base import CliError
from certlife.services.cli.exits import EXIT_FAILED, EXIT_OK
from certlife.services.infra.settings import Settings, check_database_url
from certlife.services.infra.stack.settings import StackSettings
from certlife.services.infra.supervisor import ServiceProcess, Supervisor

log = logging.getLogger("certlife.supervisor")

#: What ``certctl serve all`` runs, in start order (those this version of certctl has).
SUPERVISED = ("commands", "relay", "projections", "publisher", "api")

#: ``certctl serve --help``'s line for ``all``.
DESCRIPTION = (
    "run commands, relay, projections, publisher and api as child processes of one supervisor "
    "that restarts a crashed one with backoff (--only A,B: a subset; --log-dir DIR: one log file "
    "per service)"
)


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--only`` and ``--log-dir`` (``all`` only)."""
    parser.add_argument(
        "--only", metavar="A,B", default=None, help="all: run only these services (comma-separated)"
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        dest="log_dir",
        metavar="DIR",
        help="all: each service's log file goes to DIR/NAME.log (default $CERTLIFE_HOME/logs)",
    )


def available() -> tuple[str, ...]:
    """The supervised services, in start order (``certctl serve`` has each: tests/unit/test_serve_all.py)."""
    return SUPERVISED


def chosen(only: str | None) -> list[str]:
    """The services ``--only`` names (all of :func:`available` without it), in start order."""
    names = available()
    if only is None:
        return list(names)
    picked = {name.strip() for name in only.split(",") if name.strip()}
    unknown = sorted(picked - set(names))
    if unknown or not picked:
        raise CliError(
            f"--only: {', '.join(unknown) or 'no service'} is not a service serve all runs "
            f"(choose from {', '.join(names)})"
        )
    return [name for name in names if name in picked]


#: Each child's own PostgreSQL URL variable (least privilege: a role per service), when set.
DATABASE_URLS = {
    "commands": "CERTLIFE_COMMANDS_DATABASE_URL",
    "relay": "CERTLIFE_RELAY_DATABASE_URL",
    "projections": "CERTLIFE_PROJECTIONS_DATABASE_URL",
    "publisher": "CERTLIFE_PUBLISHER_DATABASE_URL",
    "api": "CERTLIFE_API_DATABASE_URL",
}


def child_envs(names: list[str], env: dict[str, str], port: int | None) -> dict[str, dict[str, str]]:
    """Each child's environment: ``env``, with consecutive metrics ports from ``port`` if it is fixed,
    and a static group membership id ``HOST-SERVICE`` unless ``CERTLIFE_GROUP_INSTANCE_ID`` is set:
    a restarted consumer gets its partitions back at once (one supervisor per host runs each service once).
    A child whose own URL variable (:data:`DATABASE_URLS`) is set gets it as its ``CERTLIFE_DATABASE_URL``."""
    envs = {name: dict(env) for name in names}
    host = socket.gethostname()
    for offset, name in enumerate(names):
        own = env.get(DATABASE_URLS.get(name, ""))
        if own:
            envs[name]["CERTLIFE_DATABASE_URL"] = own
        if port:
            envs[name]["CERTLIFE_METRICS_PORT"] = str(port + offset)
        if not env.get("CERTLIFE_GROUP_INSTANCE_ID"):
            envs[name]["CERTLIFE_GROUP_INSTANCE_ID"] = f"{host}-{name}"
    return envs


def run(args: argparse.Namespace) -> int:
    """Run the chosen services until SIGTERM or Ctrl-C; 0 once every child has stopped."""
    names = chosen(args.only)
    env = dict(os.environ)
    settings = Settings.from_env(env)  # a malformed variable: one line now, not a crash loop per child
    for name in names:
        if env.get(DATABASE_URLS.get(name, "")):  # the same check for each child's own URL
            check_database_url(DATABASE_URLS[name], env[DATABASE_URLS[name]])
    env.setdefault("PYTHONUNBUFFERED", "1")
    log_dir = args.log_dir or StackSettings.from_env().home / "logs"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--log-dir: cannot create {log_dir} ({exc.strerror})") from None
    envs = child_envs(names, env, settings.metrics_port)
    level = ["--log-level", args.log_level]
    procs = [ServiceProcess(name, envs[name], log_dir, args=level) for name in names]
    supervisor = Supervisor(procs, spares=True)  # a restart hands the service to a warm spare
    previous = {sig: signal.signal(sig, lambda *_: supervisor.request_stop()) for sig in _STOP_SIGNALS}
    log.info("supervising %s; logs in %s", ", ".join(names), log_dir)
    try:
        supervisor.run()
    except OSError as exc:
        raise CliError(f"cannot run the services: {exc}", EXIT_FAILED) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("every service stopped")
    return EXIT_OK


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
