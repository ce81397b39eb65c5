"""The witness process's composition root: key, PostgreSQL pool, HTTP server; clean stop on Ctrl-C/SIGTERM.

The listening socket and the TLS files are checked before anything runs, so a
port in use or an unreadable certificate is one line (``WitnessServeError``).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from certlife.domain.errors import CertlifeError
from certlife.services.infra.connections import Postgres
from certlife.services.infra.settings import Settings
from certlife.services.relay.keystore import read_passphrase
from certlife.services.witness.app import build_app
from certlife.services.witness.checks import Witness
from certlife.services.witness.keys import WitnessKeyFiles
from certlife.services.witness.store import WitnessStore

log = logging.getLogger("certlife.witness")

DEFAULT_PORT = 8380
POOL_SIZE = 8


class WitnessServeError(CertlifeError, code="witness-serve"):
    """The witness cannot start: port, TLS files or configuration (one line)."""


@dataclass(frozen=True)
class ServeOptions:
    """Where the witness listens."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls_cert: Path | None = None
    tls_key: Path | None = None


def _bind(options: ServeOptions) -> socket.socket:
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((options.host, options.port))
    except OSError as exc:
        sock.close()
        raise WitnessServeError(f"cannot listen on {options.host}:{options.port}: {exc.strerror}") from None
    sock.listen(1024)  # connections queue from now on, before uvicorn serves them
    return sock


def _check_tls(options: ServeOptions) -> None:
    if (options.tls_cert is None) != (options.tls_key is None):
        raise WitnessServeError("TLS needs both --tls-cert and --tls-key")
    if options.tls_cert is None or options.tls_key is None:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(options.tls_cert, options.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise WitnessServeError(f"cannot load the TLS certificate or key: {exc}") from None


class _Server(uvicorn.Server):
    """uvicorn's server stopping on SIGINT/SIGTERM without re-raising the signal afterwards."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def serve(settings: Settings, options: ServeOptions) -> None:
    """Run the witness until Ctrl-C or SIGTERM."""
    _check_tls(options)
    signer = WitnessKeyFiles(settings.keys.directory).load(read_passphrase(settings.keys))
    postgres = Postgres(settings.database_url)
    await postgres.probe()
    sock = _bind(options)
    pool = await postgres.pool(min_size=1, max_size=POOL_SIZE)
    try:
        store = WitnessStore(pool, settings.db_schema)
        await store.create()
        config = uvicorn.Config(
            build_app(Witness(store, signer)),
            log_config=None,
            access_log=False,
            lifespan="off",
            ssl_certfile=options.tls_cert,
            ssl_keyfile=options.tls_key,
            timeout_graceful_shutdown=5,
        )
        scheme = "https" if options.tls_cert else "http"
        origins = [s.origin for s in await store.logs()]
        log.info("witness %s (%s) witnesses %d log(s): %s", signer.name, signer.vkey(), len(origins), origins)
        port = sock.getsockname()[1]  # --port 0: the one the system chose
        log.info("witness listening on %s://%s:%d", scheme, options.host, port)
        await _Server(config).serve(sockets=[sock])
        log.info("witness stopped")
    finally:
        sock.close()
        await pool.close()
