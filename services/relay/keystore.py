"""Ed25519 keys on disk as encrypted PKCS#8; passphrases never printed or logged.

Layout of a key directory::

    record-<keyId>.pem       record-signing keys (one per key generation)
    credential-<keyId>.pem   credential keys (they sign Verifiable Credentials and status lists)
    note.pem                 the checkpoint note key

The passphrase comes from ``CERTLIFE_KEY_PASSPHRASE`` or from the file named by
``CERTLIFE_KEY_PASSPHRASE_FILE``, both parsed into ``KeySettings`` by ``Settings.from_env``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.keys import key_id, public_raw
from certlife.domain.errors import CertlifeError

if TYPE_CHECKING:
    from certlife.services.infra.settings import KeySettings

NOTE_KEY_FILE = "note.pem"


class KeyStoreError(CertlifeError, code="keystore"):
    """A key could not be read or written; the message never contains secrets."""


def read_passphrase(keys: KeySettings) -> bytes:
    """The key passphrase: ``CERTLIFE_KEY_PASSPHRASE``, else the content of its file, as bytes."""
    if keys.passphrase is not None:
        return keys.passphrase.encoded()
    path = keys.passphrase_file
    if path is not None:
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise KeyStoreError(f"cannot read the passphrase file {path}: {exc.strerror}") from None
        if text:
            return text.encode()
        raise KeyStoreError(f"the passphrase file {path} is empty")
    raise KeyStoreError("no key passphrase: set CERTLIFE_KEY_PASSPHRASE or CERTLIFE_KEY_PASSPHRASE_FILE")


def write_private_key(path: Path, key: Ed25519PrivateKey, passphrase: bytes | None) -> None:
    """Write ``key`` as PKCS#8 PEM (encrypted unless ``passphrase`` is None), mode 0600."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_private_key(path: Path, passphrase: bytes | None) -> Ed25519PrivateKey:
    """Load an Ed25519 PKCS#8 PEM key; a wrong passphrase gives a one-line error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyStoreError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        # encrypted key without passphrase, or plain key given a passphrase
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (TypeError, ValueError):
            raise KeyStoreError(f"{path} is encrypted: a passphrase is needed") from None
    except ValueError:
        raise KeyStoreError(f"cannot decrypt {path}: wrong passphrase or not a PEM key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyStoreError(f"{path} is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class KeyStore:
    """A directory of record keys and one note key."""

    directory: Path
    passphrase: bytes | None = field(repr=False)

    def record_key_path(self, kid: str) -> Path:
        """Where the record key with id ``kid`` lives."""
        return self.directory / f"record-{kid}.pem"

    def record_key_ids(self) -> list[str]:
        """Ids of the record keys present, sorted by file time (oldest first)."""
        files = sorted(self.directory.glob("record-*.pem"), key=lambda p: p.stat().st_mtime_ns)
        return [p.stem.removeprefix("record-") for p in files]

    def generate_record_key(self) -> str:
        """Create a new record key; return its key id."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        kid = key_id(public_raw(key))
        write_private_key(self.record_key_path(kid), key, self.passphrase)
        return kid

    def record_key(self, kid: str) -> Ed25519PrivateKey:
        """Load the record key ``kid``."""
        path = self.record_key_path(kid)
        if not path.exists():
            raise KeyStoreError(f"record key {kid} not found in {self.directory}")
        return read_private_key(path, self.passphrase)

    def credential_key_path(self, kid: str) -> Path:
        """Where the credential key with id ``kid`` lives."""
        return self.directory / f"credential-{kid}.pem"

    def credential_key_ids(self) -> list[str]:
        """Ids of the credential keys present, sorted by file time (oldest first)."""
        files = sorted(self.directory.glob("credential-*.pem"), key=lambda p: p.stat().st_mtime_ns)
        return [p.stem.removeprefix("credential-") for p in files]

    def generate_credential_key(self) -> str:
        """Create a new credential key (encrypted like record keys); return its key id."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        kid = key_id(public_raw(key))
        write_private_key(self.credential_key_path(kid), key, self.passphrase)
        return kid

    def credential_key(self, kid: str) -> Ed25519PrivateKey:
        """Load the credential key ``kid``."""
        path = self.credential_key_path(kid)
        if not path.exists():
            raise KeyStoreError(f"credential key {kid} not found in {self.directory}")
        return read_private_key(path, self.passphrase)

    def ensure_note_key(self) -> Ed25519PrivateKey:
        """Load the note key, creating it on first use."""
        path = self.directory / NOTE_KEY_FILE
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_private_key(path, Ed25519PrivateKey.generate(), self.passphrase)
        return read_private_key(path, self.passphrase)
