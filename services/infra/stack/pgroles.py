"""The local stack's PostgreSQL roles: one per certlife process, each with a password of its own.

``certctl stack up`` (``certlife.services.infra.stack.postgres.start``) calls
:func:`ensure_roles`: it creates the roles that are missing (LOGIN, nothing
more) and gives each the password kept in
``$CERTLIFE_HOME/stack/secrets/postgres/ROLE`` (mode 0600, directory 0700),
generated once and reused. What each role may do in a deployment's schema is
granted by ``certctl db migrate`` (``certlife.services.infra.dbroles``).

The SQL that sets a password reaches ``psql`` on its standard input, never on
its command line (which ``ps`` shows to every user); no password is printed or
logged. The server stores it as a SCRAM-SHA-256 verifier.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from certlife.services.infra.stack import secrets
from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.settings import StackSettings

#: The schema owner: runs migrations (``certctl db migrate``) only.
OWNER = "certlife"
#: The command service: appends to the event store.
COMMANDS = "certlife_commands"
#: The relay: reads the event store, keeps its own tables.
RELAY = "certlife_relay"
#: The projection process: owns the read models and their tracking tables.
PROJECTIONS = "certlife_projections"
#: Read-model queries (``certctl status``, ``certctl projections status``): SELECT only.
READER = "certlife_reader"
#: The roles a process logs in as, besides the owner.
SERVICE_ROLES = (COMMANDS, RELAY, PROJECTIONS, READER)
#: Every role of a deployment, the owner first.
ROLES = (OWNER, *SERVICE_ROLES)


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier (always quoted)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def secret_path(settings: StackSettings, role: str) -> Path:
    """Where the local stack keeps the password of ``role``."""
    return secrets.secret_path(settings.shared_state, "postgres", role)


def as_postgres(port: int, sql: str, *, hide: tuple[str, ...] = ()) -> str:
    """Run the script ``sql`` as the ``postgres`` superuser (psql reads it on stdin); its output.

    A failure is a one-line :class:`StackError` built from psql's ``ERROR`` line
    only (never the statement it echoes), with every string of ``hide`` masked.
    """
    command = ["runuser", "-u", "postgres", "--", "psql", "-p", str(port), "-XAtq", "-v", "ON_ERROR_STOP=1"]
    try:
        result = subprocess.run(command, input=sql, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise StackError(f"could not run psql as the postgres superuser: {exc.strerror or exc}") from None
    if result.returncode != 0:
        lines = (result.stderr or "").splitlines()
        errors = [line.split("ERROR:", 1)[1].strip() for line in lines if "ERROR:" in line]
        fatal = [line.strip() for line in lines if "FATAL" in line or "could not connect" in line]
        cause = (errors or fatal or [f"psql exit {result.returncode}"])[0]
        for secret in hide:
            cause = cause.replace(secret, "***")
        raise StackError(f"could not set up the PostgreSQL roles as the postgres superuser: {cause}")
    return result.stdout


def roles_script(settings: StackSettings, passwords: dict[str, str]) -> str:
    """The SQL that creates each role of ``passwords`` if missing and sets its password.

    Every role is LOGIN and nothing more; the owner becomes a member of the
    projections role (it creates the read models as that role and sets their
    default privileges).
    """
    lines = ["SET password_encryption = 'scram-sha-256';"]
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
    for role, password in passwords.items():
        name = quote_ident(role)
        lines.append(
            "DO $certlife$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            f"{quote_literal(role)}) THEN CREATE ROLE {name}; END IF; END $certlife$;"
        )
        lines.append(f"ALTER ROLE {name} WITH {attributes} PASSWORD {quote_literal(password)};")
    lines.append(f"GRANT {quote_ident(PROJECTIONS)} TO {quote_ident(settings.postgres_user)};")
    return "\n".join(lines) + "\n"


def ensure_roles(settings: StackSettings) -> list[str]:
    """Create the missing service roles of the local cluster and (re)set their passwords; the roles.

    Each password is generated once (``secrets.ensure_secret``: random, mode
    0600 in a 0700 folder) and reused from its file; a role whose file is
    missing gets a new password. Needs root (psql runs as ``postgres`` through
    ``runuser``).
    """
    passwords = {
        role: secrets.ensure_secret(settings.shared_state, "postgres", role) for role in SERVICE_ROLES
    }
    as_postgres(settings.postgres_port, roles_script(settings, passwords), hide=tuple(passwords.values()))
    return list(SERVICE_ROLES)


def role_url(settings: StackSettings, role: str) -> str:
    """A libpq URL of the local stack's database for ``role`` (the owner's is ``settings.database_url``).

    Raises a one-line :class:`StackError` when the role's password file is missing.
    """
    if role == settings.postgres_user:
        return settings.database_url
    password = secrets.read_secret(settings.shared_state, "postgres", role)
    if not password:
        path = secret_path(settings, role)
        raise StackError(f"no password for PostgreSQL role {role} at {path}: run certctl stack up (as root)")
    return settings.postgres_url(role, password)  # with a replica: both servers, the writable one chosen
