"""libpq connection URLs, single- or multi-host: checked once, and split for eventsourcing.

A URL may list several servers, as libpq and asyncpg accept it::

    postgresql://USER:PASSWORD@HOST1:PORT1,HOST2:PORT2/DATABASE?target_session_attrs=read-write

A client tries them in order and keeps the first whose session matches
``target_session_attrs``: with ``read-write`` (or ``primary``) that is the
writable one, the promoted replica after a failover. A list without it is
refused: a client could land on a read-only standby and fail every write.

asyncpg and psycopg get the URL as it is; eventsourcing's PostgreSQL recorder
takes host, port and so on separately (:meth:`PgUrl.eventsourcing_env`), and
``CertificateApplication`` hands its pool ``target_session_attrs``; with a host
list the pool also checks each session before handing it out (``POSTGRES_PRE_PING``),
so a process goes on with the promoted server instead of failing on a dead session. No message
here shows the URL or any part of it that might be a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from certlife.domain.errors import CertlifeError

#: What libpq (and asyncpg) accept for ``target_session_attrs``.
SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
#: The values that select the writable server of a host list.
WRITABLE = ("read-write", "primary")
SHAPE = "postgresql://USER:PASSWORD@HOST:PORT[,HOST:PORT...]/DATABASE[?target_session_attrs=read-write]"


class DatabaseUrlError(CertlifeError, code="database-url"):
    """A PostgreSQL URL certlife cannot use; one line that never shows the URL."""


@dataclass(frozen=True)
class PgUrl:
    """The parts of a libpq URL (``hosts`` in the order clients try them)."""

    hosts: tuple[tuple[str, int], ...]
    user: str = field(default="")
    password: str = field(default="", repr=False)
    dbname: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def target_session_attrs(self) -> str | None:
        """The URL's ``target_session_attrs`` (None: libpq's default, ``any``)."""
        return self.params.get("target_session_attrs")

    def eventsourcing_env(self) -> dict[str, str]:
        """eventsourcing's ``POSTGRES_*`` connection settings (libpq's comma-separated host and port lists)."""
        env = {
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": ",".join(host for host, _ in self.hosts),
            "POSTGRES_PORT": ",".join(str(port) for _, port in self.hosts),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
        }
        if self.target_session_attrs:
            env[TARGET_SESSION_ATTRS] = self.target_session_attrs
        if len(self.hosts) > 1:  # a failover leaves dead sessions in the pool: check each before use
            env["POSTGRES_PRE_PING"] = "y"
        return env


#: The eventsourcing environment key that carries ``target_session_attrs`` to the application's pool.
TARGET_SESSION_ATTRS = "POSTGRES_TARGET_SESSION_ATTRS"


def _host(text: str, index: int, count: int) -> tuple[str, int]:
    """One ``host[:port]`` of the list (IPv6 in brackets); port 5432 when absent."""
    where = f"host {index} of {count}" if count > 1 else "the host"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise DatabaseUrlError(f"{where} is not HOST:PORT ([IPv6]:PORT): expected {SHAPE}")
        port = rest[1:]
    else:
        host, _, port = text.partition(":")
    if not host and count > 1:
        raise DatabaseUrlError(f"{where} is empty: expected {SHAPE}")
    if port == "":
        return host or "127.0.0.1", 5432
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise DatabaseUrlError(f"{where} has no valid port (1-65535): expected {SHAPE}")
    return host or "127.0.0.1", int(port)


def parse(raw: str) -> PgUrl:
    """The parts of ``raw``; :class:`DatabaseUrlError` (one line, no part of the URL) when unusable."""
    scheme, sep, rest = raw.strip().partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise DatabaseUrlError(f"must be a {SHAPE} URL")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    if not at:
        userinfo, hostlist = "", netloc
    user, _, password = userinfo.partition(":")
    items = hostlist.split(",")
    hosts = tuple(_host(item, i, len(items)) for i, item in enumerate(items, 1))
    params = dict(parse_qsl(query, keep_blank_values=True))
    attrs = params.get("target_session_attrs")
    if attrs is not None and attrs not in SESSION_ATTRS:
        raise DatabaseUrlError(f"target_session_attrs must be one of {', '.join(SESSION_ATTRS)}")
    if len(hosts) > 1 and attrs not in WRITABLE:
        raise DatabaseUrlError(
            f"lists {len(hosts)} hosts but not ?target_session_attrs=read-write: "
            "a client could connect to a read-only standby"
        )
    return PgUrl(hosts, unquote(user), unquote(password), unquote(path), params)
