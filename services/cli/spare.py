"""A warm spare: ``certctl serve NAME --warm-spare`` imports the service's code, then waits.

The supervisor (:mod:`certlife.services.infra.supervisor`) keeps one spare per
service beside the running process. When that process dies, the supervisor writes
one line to the spare's standard input and the spare starts the service at once,
without the interpreter start-up and imports (about a second, several under load)
that a new process would spend first. A spare opens no connection and holds no
lock or group membership before that line: it cannot compete with the running
process. End of input (the supervisor stopped it, or died) ends the spare quietly.
"""

from __future__ import annotations

import importlib
import os
import sys

#: What each service imports before it opens a connection (the costly part of a start).
WARM_MODULES: dict[str, tuple[str, ...]] = {
    "commands": ("certlife.services.bootstrap", "certlife.services.commands.service"),
    "relay": (
        "certlife.services.bootstrap",
        "certlife.services.relay.relay",
        "certlife.services.relay.recovery",
    ),
    "projections": (
        "certlife.services.bootstrap",
        "certlife.projections.consumer",
        "certlife.projections.config",
    ),
    "publisher": ("certlife.services.bootstrap", "certlife.services.publisher.publisher"),
    "api": ("certlife.services.bootstrap", "certlife.services.api.app"),
}


def warm(service: str) -> None:
    """Import what ``service`` needs (a process that will run it later)."""
    for name in WARM_MODULES.get(service, ()):
        importlib.import_module(name)
    if service == "relay":  # its signing worker's server, with the worker's code imported
        from certlife.services.relay.builder import start_forkserver

        start_forkserver()


def wait_for_go(service: str) -> bool:
    """Import ``service``'s code, then block until the supervisor's line; False at end of input."""
    warm(service)
    if not sys.stdin.buffer.readline():
        return False
    # A running service's input is /dev/null, like a cold start's: how /proc tells it from a
    # spare that still waits (certlife.services.infra.service_process.service_children).
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return True
