"""Keys on disk: encrypted PKCS#8, passphrase handling, no secret ever printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from certlife.contracts.keys import key_id, public_raw
from certlife.services.infra.settings import Settings
from certlife.services.relay.keystore import KeyStore, KeyStoreError, read_passphrase

pytestmark = pytest.mark.unit

PASS = b"correct horse battery staple"


def test_record_keys_are_encrypted_pkcs8_and_reload(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", PASS)
    kid = store.generate_record_key()
    pem = store.record_key_path(kid).read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert oct(store.record_key_path(kid).stat().st_mode & 0o777) == "0o600"
    assert key_id(public_raw(store.record_key(kid))) == kid
    assert store.record_key_ids() == [kid]


def test_wrong_or_missing_passphrase_is_one_clear_line(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, PASS)
    kid = store.generate_record_key()
    with pytest.raises(KeyStoreError, match="wrong passphrase") as wrong:
        KeyStore(tmp_path, b"not it").record_key(kid)
    assert "not it" not in str(wrong.value) and PASS.decode() not in str(wrong.value)
    with pytest.raises(KeyStoreError, match="passphrase is needed"):
        KeyStore(tmp_path, None).record_key(kid)
    with pytest.raises(KeyStoreError, match="not found"):
        store.record_key("0" * 16)


def passphrase_from_env(env: dict[str, str]) -> bytes:
    """The passphrase the composition root reads for ``env``."""
    return read_passphrase(Settings.from_env(env).keys)


def test_passphrase_from_env_or_file(tmp_path: Path) -> None:
    secret = tmp_path / "pass"
    secret.write_text("from-a-file\n")
    assert passphrase_from_env({"CERTLIFE_KEY_PASSPHRASE": "direct"}) == b"direct"
    assert passphrase_from_env({"CERTLIFE_KEY_PASSPHRASE_FILE": str(secret)}) == b"from-a-file"
    with pytest.raises(KeyStoreError, match="CERTLIFE_KEY_PASSPHRASE"):
        passphrase_from_env({})
    with pytest.raises(KeyStoreError, match="cannot read the passphrase file"):
        passphrase_from_env({"CERTLIFE_KEY_PASSPHRASE_FILE": str(tmp_path / "missing")})


def test_certctl_keys_generate_never_prints_secrets(tmp_path: Path) -> None:
    env = dict(
        os.environ, CERTLIFE_KEYS_DIR=str(tmp_path / "k"), CERTLIFE_KEY_PASSPHRASE="s3cret-pass-phrase"
    )
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "keys", "generate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "s3cret-pass-phrase" not in out and "PRIVATE KEY" not in out
    assert "record key:" in out and "note key:" in out
    # without a passphrase: one line naming the fix, no traceback, nothing written
    env.pop("CERTLIFE_KEY_PASSPHRASE")
    env["CERTLIFE_KEYS_DIR"] = str(tmp_path / "other")
    failed = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "keys", "generate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "CERTLIFE_KEY_PASSPHRASE" in failed.stderr and "Traceback" not in failed.stderr
    assert not (tmp_path / "other").exists()


def test_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    from certlife.services.infra.settings import Settings

    settings = Settings.from_env({"CERTLIFE_KEY_PASSPHRASE": "do-not-print-me"})
    store = KeyStore(tmp_path, b"do-not-print-me")
    assert "do-not-print-me" not in repr(settings)
    assert "do-not-print-me" not in repr(store)
