"""Secrets of the local stack: generated once, kept in 0600 files under ``state/secrets``.

A secret is never passed on a command line (``ps`` shows those), printed or
logged; it is read from its file by whoever needs it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from certlife.services.infra.fileio import write_file_atomic


def secret_path(state: Path, kind: str, name: str) -> Path:
    """Where the secret ``name`` of ``kind`` (``kafka``, ``postgres``) is kept."""
    return state / "secrets" / kind / name


def ensure_secret(state: Path, kind: str, name: str) -> str:
    """The secret ``kind/name``, created (random, 0600) when missing."""
    path = secret_path(state, kind, name)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent.parent, 0o700)
    value = secrets.token_urlsafe(24)
    write_file_atomic(path, value.encode(), mode=0o600)
    return value


def read_secret(state: Path, kind: str, name: str) -> str | None:
    """The secret ``kind/name`` or None when it was never created."""
    try:
        return secret_path(state, kind, name).read_text().strip()
    except FileNotFoundError:
        return None


def forget_secret(state: Path, kind: str, name: str) -> None:
    """Remove the secret ``kind/name`` (revocation)."""
    secret_path(state, kind, name).unlink(missing_ok=True)
