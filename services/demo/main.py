"""The README's main command: certlife doing its whole job on this machine.

Starts the local stack unless endpoints are configured, runs the command
service, the relay, the projections, the publisher, the tiles server and the
status API as separate processes under one supervisor (``certctl serve all``'s,
which restarts one that dies), plays a
realistic scenario through Kafka, then acts as a partner lab abroad: mirrors
and verifies the log, and proves one certificate with a bundle. Exits 0 only
if every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading

from certlife.services.cli.base import run_guarded


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="./dev main", description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=220, help="certificates in the scenario")
    parser.add_argument("--seed", type=int, default=2026, help="scenario seed")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each stage")
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the services up (supervised) afterwards and print the lookup page's URL",
    )
    return parser


def _run(args: argparse.Namespace) -> int:
    from certlife.services.demo.run import play
    from certlife.services.demo.summary import passed, render

    procs: list = []
    try:
        run, figures, procs = asyncio.run(play(args.certificates, args.seed, args.timeout))
        print(render(figures))
        print(f"\nlogs, trust.json, export and bundle: {run.directory}")
        if args.keep_running:
            _keep_running(run, figures)
        return 0 if passed(figures) else 1
    finally:
        for proc in reversed(procs):
            proc.stop()


def _keep_running(run, figures) -> None:
    env = run.env
    keys = (
        "CERTLIFE_KAFKA_BOOTSTRAP",
        "CERTLIFE_DATABASE_URL",
        "CERTLIFE_DB_SCHEMA",
        "CERTLIFE_TOPIC_PREFIX",
        "CERTLIFE_KEYS_DIR",
        "CERTLIFE_KEY_PASSPHRASE_FILE",
    )
    print("\nservices are running under the supervisor (it restarts one that dies; logs/supervisor.log).")
    # The lookup page (certctl serve api): the one place its URL is printed.
    print(f"lookup page: {figures['lookup url'] or '(the API did not start: see logs/api.log)'}")
    print("In another shell:")
    for key in keys:
        if env.get(key):
            print(f"  export {key}='{env[key]}'")
    print("  ./dev certctl status <NUMBER>            # internal read model")
    print("  ./dev certctl projections status         # lag per projection")
    print(
        f'  ./dev certverify status <NUMBER> --database "$CERTLIFE_DATABASE_URL" --schema {run.mirror_schema}'
    )
    trust, policy = run.directory / "trust.json", run.directory / "partner-policy.txt"
    print(f"  ./dev certverify log {figures['tiles url']} --trust {trust} --witness-policy {policy}")
    print(f"  curl {figures['tiles url']}checkpoint            # the cosigned checkpoint, as tiles serve it")
    if figures["lookup url"]:
        print(f"  curl '{figures['lookup url']}v1/certificates/{figures['bundle certificate']}?proof=1'")
    print("Ctrl-C stops everything this command started.")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``./dev main``."""
    args = _parser().parse_args(argv)
    return run_guarded("certlife", lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
