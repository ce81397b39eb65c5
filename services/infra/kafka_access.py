"""How a certlife process or CLI reaches Kafka: the bootstrap address and its credentials.

Secure by default: SASL_SSL with SCRAM-SHA-512, the broker's certificate
verified against a CA file (or the system's trust store) including its host
name. ``plaintext`` is used only when explicitly asked for
(``CERTLIFE_KAFKA_SECURITY=plaintext``); it is unsafe outside a laptop.

The password is a :class:`~certlife.services.infra.settings.Secret`: never in a
``repr``, a message or a command line. :meth:`KafkaAccess.client_options` is the
one place that turns an access into aiokafka settings; every client of the
project is built from it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certlife.domain.errors import CertlifeError

if TYPE_CHECKING:
    from certlife.services.infra.secret import Secret

#: The SASL mechanism of every authenticated certlife connection.
MECHANISM = "SCRAM-SHA-512"
#: Values of ``CERTLIFE_KAFKA_SECURITY``.
SASL_SSL, PLAINTEXT = "sasl_ssl", "plaintext"


class KafkaAccessError(CertlifeError, code="kafka-access"):
    """The Kafka credentials or CA are missing or unreadable; one line naming the fix."""


@dataclass(frozen=True)
class KafkaAccess:
    """A Kafka endpoint with the principal that uses it."""

    bootstrap: str
    username: str | None = None
    password: Secret | None = None
    #: PEM file of the CA that signed the broker's certificate (None: the system's trust store).
    ca_file: Path | None = None
    #: Unsafe: no TLS, no authentication. Only when explicitly asked for.
    plaintext: bool = False
    #: SCRAM-SHA-512 for every principal; the local stack's admin alone uses PLAIN (over TLS),
    #: checked against the broker's own properties file, not the metadata log.
    mechanism: str = MECHANISM

    def require_credentials(self) -> tuple[str, Secret]:
        """The username and password; a one-line error naming the fix when one is missing."""
        if not (self.username and self.password):
            raise KafkaAccessError(
                f"no Kafka credentials for {self.bootstrap}: set CERTLIFE_KAFKA_USERNAME and "
                "CERTLIFE_KAFKA_PASSWORD_FILE (a kit's kafka.env has both; on the local stack "
                "run certctl stack up)"
            )
        return self.username, self.password

    @property
    def principal(self) -> str:
        """The principal as Kafka's ACLs name it (``User:NAME``; ``User:ANONYMOUS`` in plaintext)."""
        return f"User:{self.username}" if not self.plaintext else "User:ANONYMOUS"

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """A TLS context that verifies the broker's certificate and host name (None in plaintext)."""
        if self.plaintext:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise KafkaAccessError(
                f"cannot read the Kafka CA certificate {self.ca_file} ({getattr(exc, 'strerror', None) or exc}):"
                " set CERTLIFE_KAFKA_CA_FILE to the CA file of your kit"
            ) from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def client_options(self) -> dict[str, Any]:
        """aiokafka settings (``bootstrap_servers`` and security) for a producer, consumer or admin client."""
        if self.plaintext:
            return {"bootstrap_servers": self.bootstrap}
        username, password = self.require_credentials()
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": username,
            "sasl_plain_password": password.reveal(),
            "ssl_context": self.ssl_context,
        }

    def __repr__(self) -> str:
        """The endpoint and principal; never the password."""
        mode = "plaintext (unsafe)" if self.plaintext else f"SASL_SSL as {self.username}"
        return f"KafkaAccess({self.bootstrap}, {mode})"

    __str__ = __repr__


#: aiokafka error names of the authorization failures, by the resource kind they concern.
_DENIED = {
    "TopicAuthorizationFailedError": "topic",
    "GroupAuthorizationFailedError": "consumer group",
    "TransactionalIdAuthorizationFailed": "transactional id",
    "ClusterAuthorizationFailedError": "cluster",
}


def _first_server(access: KafkaAccess) -> tuple[str, int]:
    """Host and port of the first bootstrap server (ValueError when it has no port)."""
    host, _, port = access.bootstrap.split(",")[0].strip().rpartition(":")
    return host.strip("[]"), int(port)


def tls_problem(access: KafkaAccess) -> str | None:
    """Why a TLS handshake with the first bootstrap server fails (None: it succeeds or cannot be tried)."""
    import socket

    if access.plaintext:
        return None
    try:
        host, port = _first_server(access)
        context = access.ssl_context
        assert context is not None
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return f"the broker's TLS certificate is not trusted ({exc.verify_message})"
    except ssl.SSLError as exc:
        return f"TLS handshake failed ({exc.reason or exc}); is this a plaintext listener?"
    except (OSError, ValueError, KafkaAccessError):
        return None


def login_refused(access: KafkaAccess) -> bool:
    """True when the broker refuses the SASL login of ``access``.

    aiokafka reports a refused login at bootstrap only as "Unable to bootstrap";
    this one connection attempt (on its own thread and loop) finds the cause.
    """
    import asyncio
    import threading

    if access.plaintext:
        return False
    found: list[bool] = []

    async def probe() -> None:
        from aiokafka.conn import create_conn

        options = {k: v for k, v in access.client_options().items() if k != "bootstrap_servers"}
        try:
            conn = await asyncio.wait_for(create_conn(*_first_server(access), **options), 10)
            conn.close()
        except Exception as exc:
            found.append(is_denial(exc))

    worker = threading.Thread(target=lambda: asyncio.run(probe()), daemon=True)
    worker.start()
    worker.join(15)
    return any(found)


def is_denial(exc: BaseException) -> bool:
    """True for a Kafka authentication or authorization failure (permanent: retrying cannot help)."""
    name = type(exc).__name__
    return name in _DENIED or "Sasl" in name or "Authentication" in name


def describe_kafka_failure(exc: BaseException, access: KafkaAccess, resource: str = "") -> str:
    """One line for a Kafka failure of ``access``: the principal, the resource and the fix."""
    return classify_kafka_failure(exc, access, resource)[0]


def classify_kafka_failure(exc: BaseException, access: KafkaAccess, resource: str = "") -> tuple[str, bool]:
    """:func:`describe_kafka_failure`'s line, and whether the failure is an outage (no broker
    answered) rather than a refusal (authentication, grants, TLS): waiting helps only an outage."""
    name = type(exc).__name__
    who = f"principal {access.principal}"
    if isinstance(exc, KafkaAccessError):
        return str(exc), False
    if name in _DENIED:
        what = resource or f"{_DENIED[name]} ({exc})"
        return (
            f"Kafka at {access.bootstrap} denied {who} access to {what}: "
            "the operator grants it (certctl clients|partners add; README 'who may do what')"
        ), False
    refused = is_denial(exc) or "authentication" in str(exc).lower()
    if not refused:
        problem = tls_problem(access)
        if problem:
            return (
                f"cannot connect to Kafka at {access.bootstrap}: {problem}: set CERTLIFE_KAFKA_CA_FILE "
                "to the CA certificate of your kit (ca.pem)"
            ), False
        refused = name == "KafkaConnectionError" and login_refused(access)
    if refused:
        return (
            f"Kafka at {access.bootstrap} refused {who}: authentication failed (wrong username or "
            "password, or the principal was revoked): check CERTLIFE_KAFKA_USERNAME and "
            "CERTLIFE_KAFKA_PASSWORD_FILE"
        ), False
    return f"cannot reach Kafka at {access.bootstrap} as {who}: {exc or name}", True
