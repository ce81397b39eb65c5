"""The witness's identity: its name and Ed25519 cosigning key, encrypted at rest like the log's keys.

Files in the key directory (``CERTLIFE_KEYS_DIR``)::

    witness.pem    encrypted PKCS#8 (the keystore's helpers, same passphrase settings)
    witness.name   the witness name its cosignature lines and vkey carry

The passphrase (``CERTLIFE_KEY_PASSPHRASE`` / ``_FILE``) is never printed or logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.cosignature import CosignatureSigner, CosignatureVerifier
from certlife.contracts.errors import NoteError
from certlife.services.relay.keystore import KeyStoreError, read_private_key, write_private_key

KEY_FILE = "witness.pem"
NAME_FILE = "witness.name"


@dataclass(frozen=True)
class WitnessKeyFiles:
    """Where a witness's key and name live."""

    directory: Path

    @property
    def key_path(self) -> Path:
        """The encrypted private key."""
        return self.directory / KEY_FILE

    @property
    def name_path(self) -> Path:
        """The witness name."""
        return self.directory / NAME_FILE

    def exists(self) -> bool:
        """True when a witness key was created here."""
        return self.key_path.exists()

    def name(self) -> str:
        """The stored witness name."""
        try:
            return self.name_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KeyStoreError(
                f"cannot read the witness name {self.name_path}: {exc.strerror} (run `certctl witness init`)"
            ) from None

    def create(self, name: str, passphrase: bytes) -> CosignatureSigner:
        """Create a new key under ``name``; refuse to overwrite an existing one."""
        try:
            CosignatureVerifier(name, bytes(32))  # the name rules of a cosigner key
        except NoteError:
            raise KeyStoreError(f"invalid witness name {name!r}: no spaces, no '+'") from None
        if self.exists():
            raise KeyStoreError(f"a witness key already exists in {self.directory}")
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        write_private_key(self.key_path, key, passphrase)
        tmp = self.name_path.with_suffix(".tmp")
        tmp.write_text(name + "\n", encoding="utf-8")
        os.replace(tmp, self.name_path)
        return CosignatureSigner(name, key)

    def load(self, passphrase: bytes) -> CosignatureSigner:
        """The witness's cosigning key (a wrong passphrase is one line, never a traceback)."""
        if not self.exists():
            raise KeyStoreError(f"no witness key in {self.directory}: run `certctl witness init --name NAME`")
        return CosignatureSigner(self.name(), read_private_key(self.key_path, passphrase))
