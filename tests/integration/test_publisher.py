"""``certctl serve publisher`` on the real broker and PostgreSQL, with two real certlife witnesses.

The relay publishes a log; the publisher (killed with SIGKILL several times on
the way) writes it as tiles and has two ``certctl serve witness`` processes
cosign its checkpoints. At the end the checkpoints topic and the tiles hold
the final checkpoint with both cosignatures, a partner's check of the topics
still passes, the export keeps the cosigned note, and tiles rebuilt from that
export are byte-identical to the publisher's.
"""

from __future__ import annotations

import asyncio
import base64
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from certlife.contracts.cosignature import CosignatureVerifier
from certlife.contracts.notes import Checkpoint
from certlife.services.commands.application import CertificateApplication
from certlife.services.infra.stack import StackSettings, provision
from certlife.services.partner.export import read_checkpoints, read_log_lines
from certlife.services.tiles.writer import TileWriter
from tests.integration.logcheck import check_log, read_topic
from tests.integration.test_relay import (
    certctl,
    certificate_events,
    lifecycle_commands,
    stack_env,
    store,
    trust_of,
    wait_for_size,
)
from tests.procs import ROOT, ServiceProcess

pytestmark = pytest.mark.integration


class Witness:
    """``certctl serve witness --port 0`` in a child process, set up for the log; its URL from its log."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path, self.url, self.vkey = env, log_path, "", ""
        self.proc: subprocess.Popen[bytes] | None = None

    def setup(self, name: str, origin: str, note_key: str) -> Witness:
        init = certctl(self.env, "witness", "init", "--name", name)
        assert init.returncode == 0, init.stderr
        self.vkey = re.search(r"witness key:\s+(\S+)", init.stdout)[1]  # type: ignore[index]
        added = certctl(self.env, "witness", "add-log", "--origin", origin, "--key", note_key)
        assert added.returncode == 0, added.stderr
        return self

    def start(self) -> Witness:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "witness", "--port", "0"],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"witness listening on (http://127\.0\.0\.1:\d+)", self.log_path.read_text())
            if found:
                self.url = found[1]
                return self
            assert self.proc.poll() is None, self.log_path.read_text()[-2000:]
            time.sleep(0.05)
        raise AssertionError("the witness did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def files(directory: Path) -> dict[str, bytes]:
    """Every visible file of a tiles directory (hidden temporaries and state are not tiles)."""
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    }


def cosigners(note: str, verifiers: list[CosignatureVerifier]) -> set[str]:
    """Names of the witnesses whose valid cosignature ``note`` carries."""
    body = note[: note.rfind("\n\n") + 1]
    found = set()
    for line in note[note.rfind("\n\n") + 2 :].splitlines():
        _, name, b64 = line.split(" ")
        for verifier in verifiers:
            raw = base64.b64decode(b64)
            if name == verifier.name and raw[:4] == verifier.key_id:
                verifier.verify(body, raw)
                found.add(name)
    return found


async def wait_for_count(process: ServiceProcess, needle: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while process.log_text().count(needle) < count:
        assert time.monotonic() < deadline, (
            f"{needle!r} not seen {count} times:\n{process.log_text()[-2000:]}"
        )
        await asyncio.sleep(0.05)


def every_checkpoint(export: Path, out: Path) -> None:
    """Tiles of the export with every checkpoint published in turn (what a log that grew serves)."""
    writer = TileWriter(out)
    checkpoints = read_checkpoints(export)
    for _, record in read_log_lines(export):
        writer.append([record])
        while checkpoints and checkpoints[0][0] == writer.size:
            writer.publish(checkpoints.pop(0)[1])


async def test_publisher_tiles_and_cosigned_checkpoints_through_kills(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    pg_env: dict[str, str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    prefix = unique_name("pub") + "."
    env = stack_env(kafka_bootstrap, database_url, pg_schema, prefix, tmp_path / "keys")
    assert certctl(env, "keys", "generate").returncode == 0
    trust = trust_of(env)
    witnesses = [
        Witness(
            {
                **env,
                "CERTLIFE_KEYS_DIR": str(tmp_path / f"w{n}-keys"),
                "CERTLIFE_DB_SCHEMA": f"{pg_schema}_w{n}",
            },
            tmp_path / f"witness{n}.log",
        ).setup(f"w{n}.witness.test", trust.origin, trust.note_keys[0])
        for n in (1, 2)
    ]
    tiles = tmp_path / "tiles"
    witness_file = tmp_path / "witnesses.txt"
    env.update(CERTLIFE_TILES_DIR=str(tiles), CERTLIFE_WITNESSES_FILE=str(witness_file))
    # The publisher runs as the relay's own principal (its grants, not the admin's).
    await asyncio.to_thread(provision, StackSettings.from_env(), prefix)
    as_relay = {
        k: v for k, v in env.items() if k not in ("CERTLIFE_KAFKA_USERNAME", "CERTLIFE_KAFKA_PASSWORD_FILE")
    }
    app = CertificateApplication(env=pg_env)
    relay = ServiceProcess("relay", env, tmp_path).start()
    publisher = ServiceProcess("publisher", as_relay, tmp_path)
    rng = random.Random(11)
    try:
        for witness in witnesses:
            witness.start()
        witness_file.write_text(
            "".join(f"witness w{n} {w.vkey} {w.url}\n" for n, w in enumerate(witnesses, 1)) + "quorum none\n"
        )
        publisher.start()
        relay.wait_for_log("relay active")
        publisher.wait_for_log("publisher active")
        kills = 0
        for round_ in lifecycle_commands(0, 200):  # 5 rounds x 200 = 1,000 records
            await asyncio.to_thread(store, app, round_)
            if kills < 3:  # SIGKILL while it is active, somewhere in writing this round
                await asyncio.sleep(rng.uniform(0.05, 0.6))
                publisher.kill()
                kills += 1
                publisher.start()
                await wait_for_count(publisher, "publisher active", 1 + kills)
        expected = certificate_events(app)
        await wait_for_size(env, trust, expected)
        assert relay.stop() == 0  # its final checkpoint covers the whole log
        verifiers = [CosignatureVerifier.from_string(w.vkey) for w in witnesses]
        names = {v.name for v in verifiers}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            note = (tiles / "checkpoint").read_text() if (tiles / "checkpoint").exists() else ""
            size = Checkpoint.parse(note[: note.rfind("\n\n") + 1]).size if note else -1
            if size == expected and cosigners(note, verifiers) == names:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(
                f"no cosigned checkpoint {expected} in the tiles:\n{publisher.log_text()[-3000:]}"
            )
        assert publisher.stop() == 0
    finally:
        relay.kill()
        publisher.kill()
        for witness in witnesses:
            witness.kill()
        conn = await asyncpg.connect(database_url)
        try:
            for n in (1, 2):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{pg_schema}_w{n}" CASCADE')
        finally:
            await conn.close()
    assert publisher.log_text().count("publisher active") == 1 + kills
    assert "Traceback" not in publisher.log_text()
    assert f"Kafka principal User:{prefix}certlife-relay" in publisher.log_text()
    # The checkpoints topic: the relay's notes, and the final one again with both cosignatures.
    notes = [n.decode() for n in await read_topic(kafka_bootstrap, prefix + "certlife.checkpoints.v1")]
    final = [n for n in notes if Checkpoint.parse(n[: n.rfind("\n\n") + 1]).size == expected]
    assert any(cosigners(n, verifiers) == names for n in final), final
    assert (await check_log(kafka_bootstrap, prefix, trust)).size == expected  # partners still verify
    # The export keeps the cosigned note; tiles rebuilt from it are the publisher's, byte for byte.
    export = tmp_path / "export"
    exported = certctl(env, "export", str(export))
    assert exported.returncode == 0, exported.stderr
    assert cosigners(dict(read_checkpoints(export))[expected], verifiers) == names
    published = files(tiles)
    rebuilt = tmp_path / "rebuilt"
    built = certctl(env, "tiles", "build", "--export", str(export), "--out", str(rebuilt))
    assert built.returncode == 0, built.stderr
    # certctl tiles build publishes the newest checkpoint only; the publisher also kept the
    # partial tiles of the checkpoints before it (tlog-tiles: a log MUST serve them).
    rebuilt_files = files(rebuilt)
    assert {name: published.get(name) for name in rebuilt_files} == rebuilt_files
    assert all(".p/" in name for name in published.keys() - rebuilt_files.keys())
    grown = tmp_path / "grown"
    every_checkpoint(export, grown)
    assert files(grown) == published


async def test_the_witness_client_records_a_real_witness_refusing_forks(
    database_url: str, pg_schema: str, tmp_path: Path
) -> None:
    """Against ``certctl serve witness``: cosigned, then a forked log's checkpoints refused and recorded."""
    import httpx
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from certlife.contracts.merkle import consistency_proof, leaf_hash, root_from_leaf_hashes
    from certlife.contracts.notes import NoteSigner, sign_checkpoint
    from certlife.services.publisher.cosigner import Cosigner, CosignerOptions
    from certlife.services.publisher.cosigner import Witness as Asked

    origin = "fork.test/log"
    signer = NoteSigner(origin, Ed25519PrivateKey.generate())
    honest = [leaf_hash(b"honest %d" % i) for i in range(40)]
    forked = honest[:6] + [leaf_hash(b"forked %d" % i) for i in range(6, 40)]
    env = stack_env("127.0.0.1:1", database_url, pg_schema, "", tmp_path / "keys")
    process = Witness(env, tmp_path / "witness.log").setup("w.fork.test", origin, signer.verifier_key())
    process.start()
    published: list[tuple[int, str]] = []

    async def publish(size: int, note: str) -> None:
        published.append((size, note))

    async def ask(leaves: list[bytes], size: int, known: int | None) -> dict[str, int]:
        asked = Asked("w", CosignatureVerifier.from_string(process.vkey), process.url)
        async with httpx.AsyncClient() as client:
            cosigner = Cosigner(
                [asked],
                client,
                lambda old, new: consistency_proof(leaves, old, new),
                publish,
                CosignerOptions(backoff_initial=5, backoff_cap=5),
            )
            cosigner.status["w"].known_size = known
            stop = asyncio.Event()
            task = asyncio.create_task(cosigner.run(stop))
            cosigner.offer(
                sign_checkpoint(Checkpoint(origin, size, root_from_leaf_hashes(leaves[:size])), signer)
            )
            deadline = time.monotonic() + 20
            while not cosigner.status["w"].refusals and cosigner.status["w"].cosigned < size:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            stop.set()
            await task
            return dict(cosigner.status["w"].refusals)

    try:
        assert await ask(honest, 10, None) == {}  # a new log for the witness: old size 0
        assert published and published[-1][0] == 10
        refused = await ask(forked, 12, 10)  # a larger tree that does not extend what it cosigned
        assert list(refused) == ["422 Unprocessable Entity (consistency refused: a fork, or a bad proof)"]
        refused = await ask(forked, 10, 10)  # the same size, another root
        assert list(refused) == ["422 Unprocessable Entity (consistency refused: a fork, or a bad proof)"]
        assert await ask(honest, 20, 10) == {}  # the honest log goes on
        assert published[-1][0] == 20
        assert process.log_path.read_text().count(": 422 ") == 2  # the witness's side: one line each
    finally:
        process.kill()
