"""The witness process's composition root: key, PostgreSQL pool, HTTP server; clean stop on Ctrl-C/SIGTERM.

The listening socket and the TLS files are checked before anything runs, so a
port in use or an unreadable certificate is one line (``WitnessServeError``).
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from certlife.domain.errors import CertlifeError
from certlife.services.infra.connections import Postgres
from certlife.services.infra.health import HEALTH
from certlife.services.infra.http_server import bind, origin, serve_app
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


def _check_tls(options: ServeOptions) -> None:
    if (options.tls_cert is None) != (options.tls_key is None):
        raise WitnessServeError("TLS needs both --tls-cert and --tls-key")
    if options.tls_cert is None or options.tls_key is None:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(options.tls_cert, options.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise WitnessServeError(f"cannot load the TLS certificate or key: {exc}") from None


async def serve(settings: Settings, options: ServeOptions) -> None:
    """Run the witness until Ctrl-C or SIGTERM."""
    _check_tls(options)
    signer = WitnessKeyFiles(settings.keys.directory).load(read_passphrase(settings.keys))
    postgres = Postgres(settings.database_url)
    await postgres.probe()
    with bind(options.host, options.port, error=WitnessServeError) as sock:
        pool = await postgres.pool(min_size=1, max_size=POOL_SIZE)
        try:
            store = WitnessStore(pool, settings.db_schema)
            await store.create()
            origins = [s.origin for s in await store.logs()]
            log.info(
                "witness %s (%s) witnesses %d log(s): %s", signer.name, signer.vkey(), len(origins), origins
            )
            HEALTH.set("ready")  # its state is reachable
            scheme = "https" if options.tls_cert else "http"
            await serve_app(
                build_app(Witness(store, signer)),
                sock,
                ready=f"witness listening on {origin(scheme, options.host, sock)}",
                log=log,
                tls_cert=options.tls_cert,
                tls_key=options.tls_key,
            )
            log.info("witness stopped")
        finally:
            await pool.close()
