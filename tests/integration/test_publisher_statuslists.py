"""Status lists produced by the real publisher and committed by the real relay (Kafka + PostgreSQL).

A credential key is generated and announced; the relay and the publisher run
(the publisher as the relay's principal, with the key passphrase). After the
first checkpoints both lists appear in ``<tiles>/statuslists/`` with no bit
set; revoking a certificate gives a new revocation list with its bit set,
signed by the credential key, whose SHA-256 a ``statuslist`` record of the
log commits; the log then verifies with the credential state holding it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from certlife.contracts.credentials.bitstring import bit_at, set_indexes
from certlife.contracts.credentials.proof import verify_document
from certlife.contracts.credentials.statuslist import StatusList, parse_status_list
from certlife.contracts.records import parse_record
from certlife.contracts.verification import verify_log
from certlife.services.commands.application import CertificateApplication
from certlife.services.infra.stack import StackSettings, provision
from tests.integration.logcheck import read_topic
from tests.integration.test_relay import certctl, lifecycle_commands, stack_env, store, trust_of
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration


async def _latest(folder: Path, purpose: str, ok: Callable[[StatusList], bool], timeout: float = 90) -> bytes:
    """The bytes of ``<folder>/<purpose>`` once ``ok`` holds for the list they hold."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = folder / purpose
        if path.exists():
            raw = path.read_bytes()
            if ok(parse_status_list(raw)):
                return raw
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {purpose} list as expected in {folder}")


async def test_revocation_gives_a_committed_list_with_its_bit_set(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    pg_env: dict[str, str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    prefix = unique_name("lists") + "."
    env = stack_env(kafka_bootstrap, database_url, pg_schema, prefix, tmp_path / "keys")
    tiles = tmp_path / "tiles"
    env.update(CERTLIFE_TILES_DIR=str(tiles))
    assert certctl(env, "keys", "generate").returncode == 0
    generated = certctl(env, "keys", "credential", "generate")
    assert generated.returncode == 0, generated.stderr
    kid = generated.stdout.split()[3]
    assert certctl(env, "keys", "credential", "announce", kid).returncode == 0
    await asyncio.to_thread(provision, StackSettings.from_env(), prefix)
    as_relay = {
        k: v for k, v in env.items() if k not in ("CERTLIFE_KAFKA_USERNAME", "CERTLIFE_KAFKA_PASSWORD_FILE")
    }
    app = CertificateApplication(env=pg_env)
    relay = ServiceProcess("relay", env, tmp_path).start()
    publisher = ServiceProcess("publisher", as_relay, tmp_path).start()
    folder = tiles / "statuslists"
    try:
        relay.wait_for_log("relay active")
        publisher.wait_for_log("publisher active")
        await asyncio.to_thread(store, app, lifecycle_commands(0, 10)[0])
        # Both lists of the ten issued certificates, no bit set, committed.
        first = await _latest(folder, "revocation", lambda s: s.log_size >= 11)
        assert set_indexes(parse_status_list(first).bits) == []
        await _latest(folder, "suspension", lambda s: s.log_size >= 11)
        # Revoke RT-00003 (list index 3: the fourth issued) and suspend RT-00005.
        await asyncio.to_thread(store, app, lifecycle_commands(3, 1)[4] + lifecycle_commands(5, 1)[1])
        revoked = await _latest(folder, "revocation", lambda s: bit_at(s.bits, 3))
        suspended = await _latest(folder, "suspension", lambda s: bit_at(s.bits, 5))
        await asyncio.sleep(3)  # quiet: nothing changed, so no further list and no further record
        assert relay.stop() == 0
        assert publisher.stop() == 0
    finally:
        relay.kill()
        publisher.kill()

    revocation = parse_status_list(revoked)
    assert set_indexes(revocation.bits) == [3] and len(revocation.bits) * 8 == 131072
    assert set_indexes(parse_status_list(suspended).bits) == [5]
    assert revocation.key_id == kid
    assert (folder / f"revocation.{revocation.log_size}").read_bytes() == revoked
    trust = trust_of(env)
    [credential_key] = trust.credential_keys
    verify_document(revocation.document, credential_key.public_raw)
    # The log commits the list's SHA-256, after the records the list reflects.
    records = await read_topic(kafka_bootstrap, prefix + "certlife.log.v1")
    digest = hashlib.sha256(revoked).hexdigest()
    commitments = [parse_record(raw) for raw in records if b'"kind":"statuslist"' in raw]
    [commitment] = [r for r in commitments if r.list_sha256 == digest]
    assert (commitment.purpose, commitment.log_size) == ("revocation", revocation.log_size)
    assert commitment.index >= revocation.log_size
    revoke_index = next(r.index for r in map(parse_record, records) if r.event == "revoked")
    assert revocation.log_size > revoke_index
    # A list is produced only when its bits changed: consecutive commitments of a purpose differ.
    for purpose in ("revocation", "suspension"):
        committed = [
            set_indexes(parse_status_list((folder / f"{purpose}.{r.log_size}").read_bytes()).bits)
            for r in commitments
            if r.purpose == purpose
        ]
        assert committed[0] == [] and all(a != b for a, b in pairwise(committed))
    report = verify_log(list(enumerate(records, 1)), [], trust)
    assert report.credentials is not None
    assert report.credentials.committed(digest).index == commitment.index
    assert report.credentials.key_for(kid, revocation.log_size - 1).key_id == kid
