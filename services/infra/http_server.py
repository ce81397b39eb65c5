"""How certlife's HTTP servers listen and stop: a socket bound up front, uvicorn, a clean stop on SIGINT/SIGTERM.

Every server (``certctl serve witness``, ``certctl serve tiles``, ...) binds
its socket with :func:`bind` before it starts anything else, so a port in use
is one line, then runs its Starlette application with :func:`serve_app`. The
server announces its address in one log line once uvicorn listens with its
signal handlers installed: the line scripts and tests wait for. Ctrl-C or
SIGTERM stops it gracefully and the process ends normally, without the signal
being raised again afterwards (uvicorn's default).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from certlife.domain.errors import CertlifeError

#: Seconds open connections get to finish once a stop is asked for.
GRACEFUL_SHUTDOWN = 5
#: Connections queued by the system before the server accepts them.
BACKLOG = 1024


class ListenError(CertlifeError, code="listen"):
    """A server cannot listen on the address asked for (one line)."""


def bind(host: str, port: int, *, error: type[CertlifeError] = ListenError) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: any free port); ``error`` (one line) if it cannot.

    Connections queue from now on, before the server accepts them. The socket is
    explicitly TCP (``IPPROTO_TCP``): asyncio turns Nagle's algorithm off only on
    sockets that say so, and with it on, a response written as headers then body
    waits for the client's delayed ACK (about 40 ms per request).
    """
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as exc:
        raise error(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise error(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def origin(scheme: str, host: str, sock: socket.socket) -> str:
    """``scheme://host:port`` of a bound socket (the port the system chose for port 0; IPv6 in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{sock.getsockname()[1]}"


class _Server(uvicorn.Server):
    """uvicorn's server: logs ``ready`` once it listens; stops on SIGINT/SIGTERM without re-raising them."""

    def __init__(self, config: uvicorn.Config, ready: str, log: logging.Logger) -> None:
        super().__init__(config)
        self.ready, self.log = ready, log

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.log.info("%s", self.ready)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def serve_app(
    app: ASGIApp,
    sock: socket.socket,
    *,
    ready: str,
    log: logging.Logger,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Serve ``app`` on ``sock`` (from :func:`bind`) until Ctrl-C or SIGTERM; log ``ready`` once listening.

    With ``tls_cert`` and ``tls_key`` (PEM files, checked by the caller) it
    speaks HTTPS. ``sock`` stays open: the caller closes it (``with bind(...) as sock:``).
    """
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
    await _Server(config, ready, log).serve(sockets=[sock])
