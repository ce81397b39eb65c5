"""Where the local stack lives and which ports it uses.

Every value can be overridden from the environment; nothing is read at import
time. The defaults match compose.yaml (a unit test keeps the two in step).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from certlife.contracts.admission import ascii_shown
from certlife.services.infra.stack.errors import StackError

KAFKA_VERSION = "4.1.1"
POSTGRES_DEFAULT_VERSION = "15"


def tls_dir(state: Path) -> Path:
    """Folder of the CA and broker certificate files (``stack/tls.py`` makes them)."""
    return state / "tls"


def ca_file(state: Path) -> Path:
    """The CA certificate (PEM) clients trust."""
    return tls_dir(state) / "ca.pem"


def broker_keystore(state: Path) -> Path:
    """The broker's PEM keystore: PKCS#8 private key followed by its certificate chain."""
    return tls_dir(state) / "broker.pem"


@dataclass(frozen=True)
class StackSettings:
    """Ports, credentials and folders of the native local stack."""

    home: Path
    kafka_port: int = 9092
    controller_port: int = 9093
    postgres_port: int = 5432
    postgres_db: str = "certlife"
    postgres_user: str = "certlife"
    postgres_password: str = "certlife"
    kafka_heap: str = "768m"
    #: Unsafe extra listener without TLS or authentication (None: none); only when asked for.
    plaintext_port: int | None = None

    @property
    def kafka_libs(self) -> Path:
        """Cached broker jars, shared by every checkout of the project."""
        return self.home / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def maven_repo(self) -> Path:
        """Maven's local repository, kept outside the project tree."""
        return self.home / "m2"

    @property
    def state(self) -> Path:
        """Data, logs and pid files of the running stack."""
        return self.home / "stack"

    @property
    def ca_file(self) -> Path:
        """The local stack's CA certificate (PEM), which clients trust (``stack/tls.py`` makes it)."""
        return ca_file(self.state)

    @property
    def kafka_bootstrap(self) -> str:
        """The broker's bootstrap address."""
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        """A libpq URL for the project's database and role."""
        return (
            f"postgresql://{self.postgres_user}:{self.postgres_password}"
            f"@127.0.0.1:{self.postgres_port}/{self.postgres_db}"
        )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> StackSettings:
        """Build settings from ``CERTLIFE_*`` environment variables."""
        env = dict(os.environ if env is None else env)
        home = Path(env.get("CERTLIFE_HOME") or Path.home() / ".cache" / "certlife")
        return cls(
            home=home,
            kafka_port=_port(env, "CERTLIFE_KAFKA_PORT", 9092),
            controller_port=_port(env, "CERTLIFE_KAFKA_CONTROLLER_PORT", 9093),
            postgres_port=_port(env, "CERTLIFE_POSTGRES_PORT", 5432),
            plaintext_port=_port(env, "CERTLIFE_KAFKA_PLAINTEXT_PORT", 0) or None,
        )


def _port(env: dict[str, str], name: str, default: int) -> int:
    """A TCP port from ``name`` (unset or empty: ``default``); a bad value is a one-line StackError."""
    text = env.get(name) or str(default)
    if text == "0" and default == 0:
        return 0
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise StackError(f"{name} must be a TCP port (1-65535), got {ascii_shown(text, 40)!r}")
    return int(text)
