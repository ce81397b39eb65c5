"""``certctl serve witness`` against the real PostgreSQL over real HTTP: C2SP tlog-witness behaviour.

The witness runs as its own process (``certctl serve witness --port 0``); logs
are built here with contracts.merkle and NoteSigner. Fork attempts are refused
with the spec's status codes, races have one winner, and a kill -9 amid many
requests leaves state consistent with every cosignature any client received.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.cosignature import CosignatureVerifier
from certlife.contracts.merkle import EMPTY_ROOT, consistency_proof, leaf_hash, root_from_leaf_hashes
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.witness import encode_add_checkpoint, parse_conflict, parse_cosignature_lines
from certlife.services.infra.stack.settings import broker_keystore, tls_dir
from certlife.services.infra.stack.tls import ensure_tls

pytestmark = pytest.mark.integration

ORIGIN = "example.test/log"
WITNESS_NAME = "witness.test/w1"
PASSPHRASE = f"witness-test-passphrase-{os.getpid()}"


@dataclass
class Tree:
    """A test log: leaves, roots, proofs, signed checkpoints."""

    signer: NoteSigner
    hashes: list[bytes] = field(default_factory=list)

    @classmethod
    def grown(
        cls, signer: NoteSigner, size: int, tag: str, shared: Tree | None = None, prefix: int = 0
    ) -> Tree:
        tree = cls(signer, list(shared.hashes[:prefix]) if shared else [])
        tree.hashes += [leaf_hash(f"{tag}{i}".encode()) for i in range(len(tree.hashes), size)]
        return tree

    def root(self, size: int) -> bytes:
        return root_from_leaf_hashes(self.hashes[:size]) if size else EMPTY_ROOT

    def note(self, size: int) -> str:
        return sign_checkpoint(Checkpoint(self.signer.name, size, self.root(size)), self.signer)

    def proof(self, old: int, new: int) -> list[bytes]:
        return consistency_proof(self.hashes, old, new) if 0 < old < new else []

    def request(self, old: int, new: int) -> bytes:
        return encode_add_checkpoint(old, self.proof(old, new), self.note(new))


class WitnessProcess:
    """``certctl serve witness --port 0`` in a child process; its URL read from its log."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.env, self.log_path, self.args = env, log_path, args
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> WitnessProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "certlife.services.cli.certctl",
                    "serve",
                    "witness",
                    "--port",
                    "0",
                    *self.args,
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"witness listening on (https?://127\.0\.0\.1:\d+)", self.log()[offset:])
            if found:
                self.url = found[1]
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the witness did not start:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


def certctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.fixture
def log_signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture
def witness_env(database_url: str, pg_schema: str, tmp_path: Path, log_signer: NoteSigner) -> dict[str, str]:
    """A witness set up with ``certctl witness init`` and ``add-log``; its key encrypted at rest."""
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    env = {
        **os.environ,
        "CERTLIFE_DATABASE_URL": database_url,
        "CERTLIFE_DB_SCHEMA": pg_schema,
        "CERTLIFE_KEYS_DIR": str(tmp_path / "keys"),
        "CERTLIFE_KEY_PASSPHRASE_FILE": str(secret),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CERTLIFE_KEY_PASSPHRASE", None)
    init = certctl(env, "witness", "init", "--name", WITNESS_NAME)
    assert init.returncode == 0, init.stderr
    assert PASSPHRASE not in init.stdout + init.stderr
    env["WITNESS_VKEY"] = re.search(r"witness key:\s+(\S+)", init.stdout)[1]  # type: ignore[index]
    pem = (tmp_path / "keys" / "witness.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in pem
    again = certctl(env, "witness", "init", "--name", WITNESS_NAME)
    assert again.returncode != 0 and "already exists" in again.stderr and "Traceback" not in again.stderr
    added = certctl(env, "witness", "add-log", "--origin", ORIGIN, "--key", log_signer.verifier_key())
    assert added.returncode == 0, added.stderr
    bad = certctl(env, "witness", "add-log", "--origin", "x", "--key", "not-a-vkey")
    assert (
        bad.returncode == 2
        and bad.stderr.startswith("certctl: error: --key")
        and "Traceback" not in bad.stderr
    )
    return env


@pytest.fixture
def witness(witness_env: dict[str, str], tmp_path: Path) -> Iterator[WitnessProcess]:
    proc = WitnessProcess(witness_env, tmp_path / "witness.log").start()
    yield proc
    proc.kill()


def verify_cosignature(vkey: str, note: str, body: bytes) -> int:
    """The answer's one cosignature line verifies over the checkpoint; its timestamp."""
    (line,) = parse_cosignature_lines(body)
    verifier = CosignatureVerifier.from_string(vkey)
    name, b64 = line.split(" ")[1:]
    assert name == WITNESS_NAME
    return verifier.verify(note[: note.rfind("\n\n") + 1], base64.b64decode(b64))


async def post(client: httpx.AsyncClient, url: str, body: bytes) -> httpx.Response:
    return await client.post(f"{url}/add-checkpoint", content=body)


async def test_cosigns_consistent_checkpoints_and_refuses_forks(
    witness: WitnessProcess, witness_env: dict[str, str], log_signer: NoteSigner
) -> None:
    vkey, url = witness_env["WITNESS_VKEY"], witness.url
    log_a = Tree.grown(log_signer, 16, "a")
    log_b = Tree.grown(log_signer, 16, "b", shared=log_a, prefix=6)  # a fork after leaf 6
    async with httpx.AsyncClient(timeout=30) as client:
        # First checkpoint, from old size 0; the cosignature verifies and carries a timestamp.
        first = await post(client, url, log_a.request(0, 5))
        assert first.status_code == 200, first.text
        assert abs(verify_cosignature(vkey, log_a.note(5), first.content) - time.time()) < 120
        # A consistent extension, then the same checkpoint again (cosigned again).
        grown = await post(client, url, log_a.request(5, 9))
        assert grown.status_code == 200 and verify_cosignature(vkey, log_a.note(9), grown.content)
        same = await post(client, url, log_a.request(9, 9))
        assert same.status_code == 200 and verify_cosignature(vkey, log_a.note(9), same.content)

        # Fork attempts: same size other root; a smaller size; a bad or missing consistency proof.
        forked_same_size = await post(client, url, log_b.request(9, 9))
        assert forked_same_size.status_code == 422
        smaller = await post(client, url, log_a.request(7, 7))
        assert smaller.status_code == 409
        assert smaller.headers["content-type"] == "text/x.tlog.size"
        assert parse_conflict(smaller.content) == 9
        old_above_size = await post(client, url, encode_add_checkpoint(9, [], log_a.note(7)))
        assert old_above_size.status_code == 400
        fork_proof = encode_add_checkpoint(9, log_b.proof(9, 12), log_b.note(12))
        assert (await post(client, url, fork_proof)).status_code == 422
        spliced = encode_add_checkpoint(9, log_a.proof(9, 12), log_b.note(12))
        assert (await post(client, url, spliced)).status_code == 422
        no_proof = encode_add_checkpoint(9, [], log_a.note(12))
        assert (await post(client, url, no_proof)).status_code == 422
        tampered = log_a.proof(9, 12)
        tampered[0] = hashlib.sha256(tampered[0]).digest()
        assert (
            await post(client, url, encode_add_checkpoint(9, tampered, log_a.note(12)))
        ).status_code == 422
        stale = await post(client, url, log_a.request(5, 12))
        assert stale.status_code == 409 and parse_conflict(stale.content) == 9

        # Unknown origin (404), a note no trusted key signed (403), a bad trusted signature (403), junk (400).
        stranger = Tree.grown(NoteSigner("other.test/log", Ed25519PrivateKey.generate()), 4, "s")
        assert (await post(client, url, stranger.request(0, 4))).status_code == 404
        impostor = Tree(NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), log_a.hashes)
        assert (await post(client, url, impostor.request(9, 12))).status_code == 403
        note = log_a.note(12)
        sig_at = note.rfind(" ") + 10
        broken = note[:sig_at] + ("A" if note[sig_at] != "A" else "B") + note[sig_at + 1 :]
        forged = await post(client, url, encode_add_checkpoint(9, log_a.proof(9, 12), broken))
        assert forged.status_code in (400, 403)  # 403 when the base64 stays canonical
        for junk in (b"", b"old 9\n", b"old 09\n\n" + note.encode(), b"\xff" * 100):
            assert (await post(client, url, junk)).status_code == 400
        assert (await client.get(f"{url}/add-checkpoint")).status_code == 405
        too_big = await post(client, url, b"old 9\n\n" + b"x" * 200_000)
        assert too_big.status_code == 413

        # Nothing refused moved the state: the honest extension still works, from 9.
        assert (await post(client, url, log_a.request(9, 12))).status_code == 200
        # The monitoring endpoint serves the latest cosigned checkpoint with the witness's line.
        served = await client.get(f"{url}/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint")
        assert served.status_code == 200 and served.text.startswith(log_a.note(12))
        assert f"— {WITNESS_NAME} " in served.text

    # One log line per refused request, with its status and reason, and no traceback.
    refused = [line for line in witness.log().splitlines() if "refused add-checkpoint" in line]
    assert len(refused) == 16, "\n".join(refused)
    assert any(" 404 unknown log origin" in line for line in refused)
    assert any(" 409 old size 7 is not the latest cosigned size 9" in line for line in refused)
    assert "Traceback" not in witness.log()
    listed = certctl(witness_env, "witness", "list-logs")
    assert f"{ORIGIN}\tsize 12" in listed.stdout
    assert witness.stop() == 0 and "witness stopped" in witness.log()


async def test_size_zero_and_first_proof_rules(witness: WitnessProcess, log_signer: NoteSigner) -> None:
    log_a = Tree.grown(log_signer, 4, "z")
    async with httpx.AsyncClient(timeout=30) as client:
        with_proof = encode_add_checkpoint(0, [EMPTY_ROOT], log_a.note(4))
        assert (await post(client, witness.url, with_proof)).status_code == 422
        wrong_empty = sign_checkpoint(Checkpoint(ORIGIN, 0, leaf_hash(b"x")), log_signer)
        assert (await post(client, witness.url, encode_add_checkpoint(0, [], wrong_empty))).status_code == 422
        empty = await post(client, witness.url, log_a.request(0, 0))
        assert empty.status_code == 200
        assert (await post(client, witness.url, log_a.request(0, 4))).status_code == 200


async def race(url: str, bodies: list[bytes]) -> list[tuple[int, bytes]]:
    """POST every body at the same instant: all but the last byte first, then the last bytes together."""
    host, port = url.removeprefix("http://").split(":")
    streams = [await asyncio.open_connection(host, int(port)) for _ in bodies]
    for (_, writer), body in zip(streams, bodies, strict=True):
        head = f"POST /add-checkpoint HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body[:-1])
        await writer.drain()
    await asyncio.sleep(0.2)
    for (_, writer), body in zip(streams, bodies, strict=True):
        writer.write(body[-1:])  # no await in between: they reach the witness together
    answers = []
    for reader, writer in streams:
        raw = await reader.read()
        writer.close()
        head, _, content = raw.partition(b"\r\n\r\n")
        answers.append((int(head.split(b" ")[1]), content))
    return answers


async def test_racing_requests_have_one_winner(
    witness: WitnessProcess, witness_env: dict[str, str], log_signer: NoteSigner
) -> None:
    log_a = Tree.grown(log_signer, 40, "a")
    log_b = Tree.grown(log_signer, 40, "b", shared=log_a, prefix=5)
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await post(client, witness.url, log_a.request(0, 5))).status_code == 200
    stranger = Tree.grown(NoteSigner("other.test/log", Ed25519PrivateKey.generate()), 4, "s")
    warm_up = await race(witness.url, [stranger.request(0, 4)] * 40)  # the witness's pool opens its sessions
    assert {status for status, _ in warm_up} == {404}
    bodies = [tree.request(5, size) for size in range(10, 30) for tree in (log_a, log_b)]
    answers = await race(witness.url, bodies)
    winners = [i for i, (status, _) in enumerate(answers) if status == 200]
    assert len(winners) == 1, [status for status, _ in answers]
    won_size = 10 + winners[0] // 2
    assert all(
        parse_conflict(content) == won_size for i, (_, content) in enumerate(answers) if i != winners[0]
    )
    verify_cosignature(
        witness_env["WITNESS_VKEY"], (log_a, log_b)[winners[0] % 2].note(won_size), answers[winners[0]][1]
    )


async def test_store_compare_and_swap_has_one_winner_per_state(database_url: str, pg_schema: str) -> None:
    """Many advances from one state at once, on a warm pool: exactly one commits, every time."""
    from certlife.services.witness.checks import CONFLICT, Refusal
    from certlife.services.witness.store import LogState, WitnessStore

    async def advance(store: WitnessStore, new_size: int, seen_size: int) -> bool:
        def decide(current: LogState) -> tuple[str, str]:
            if current.size != seen_size:
                raise Refusal(CONFLICT, "moved", size=current.size)
            return "note", f"cosignature {new_size}"

        try:
            await store.advance(ORIGIN, new_size, hashlib.sha256(b"%d" % new_size).digest(), decide)
        except Refusal:
            return False
        return True

    pool = await asyncpg.create_pool(database_url, min_size=8, max_size=8)
    try:
        store = WitnessStore(pool, pg_schema)
        await store.create()
        await store.add_log(ORIGIN, [])
        size = 0
        for round_ in range(6):
            won = await asyncio.gather(*(advance(store, size + 1 + i, size) for i in range(40)))
            assert sum(won) == 1, f"round {round_}: {sum(won)} winners"
            size = size + 1 + won.index(True)
            state = await store.log(ORIGIN)
            assert state is not None and state.size == size and state.cosignature == f"cosignature {size}"
    finally:
        await pool.close()


@dataclass
class Cosigned:
    branch: str
    size: int
    root: bytes


async def _hammer(
    url: str, trees: dict[str, Tree], vkey: str, stop: asyncio.Event, seen: list[Cosigned]
) -> None:
    """Workers submit checkpoints of both branches (learning the size from 409s) until ``stop``."""

    async def worker(branch: str, seed: int) -> None:
        tree, rng, believed = trees[branch], random.Random(seed), 0
        async with httpx.AsyncClient(timeout=10) as client:
            while not stop.is_set():
                target = min(len(tree.hashes), believed + rng.randint(0, 4))
                try:
                    answer = await post(client, url, tree.request(believed, target))
                except httpx.HTTPError:
                    await asyncio.sleep(0.02)
                    continue
                if answer.status_code == 200:
                    verify_cosignature(vkey, tree.note(target), answer.content)
                    seen.append(Cosigned(branch, target, tree.root(target)))
                    believed = target
                elif answer.status_code == 409:
                    believed = parse_conflict(answer.content)
                elif answer.status_code == 422:
                    believed = 0 if rng.random() < 0.3 else believed  # lost the fork: keep trying anyway
                elif answer.status_code != 503:
                    raise AssertionError(f"unexpected {answer.status_code}: {answer.text}")

    await asyncio.gather(*(worker(b, i) for i in range(8) for b in trees))


async def test_kill_9_during_add_checkpoint_keeps_every_cosignature_consistent(
    witness: WitnessProcess,
    witness_env: dict[str, str],
    log_signer: NoteSigner,
    pg_schema: str,
    database_url: str,
) -> None:
    log_a = Tree.grown(log_signer, 400, "a")
    trees = {"a": log_a, "b": Tree.grown(log_signer, 400, "b", shared=log_a, prefix=3)}
    vkey = witness_env["WITNESS_VKEY"]
    seen: list[Cosigned] = []
    for _round in range(4):
        stop = asyncio.Event()
        hammer = asyncio.create_task(_hammer(witness.url, trees, vkey, stop, seen))
        wanted, deadline = len(seen) + 5, time.monotonic() + 60
        while len(seen) < wanted and time.monotonic() < deadline and not hammer.done():
            await asyncio.sleep(0.02)
        assert len(seen) >= wanted, "the witness cosigned nothing"
        await asyncio.sleep(random.uniform(0, 0.3))
        witness.kill()  # amid requests in flight
        await asyncio.sleep(0.2)
        stop.set()
        await hammer
        witness.start()
    assert len({c.size for c in seen}) > 10

    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            f'SELECT size, root_hash FROM "{pg_schema}".witness_logs WHERE origin = $1', ORIGIN
        )
    finally:
        await conn.close()
    stored_size, stored_root = int(row["size"]), bytes(row["root_hash"])
    # Every cosignature handed out lies on one branch, and the stored state extends all of them.
    forked = {c.branch for c in seen if c.size > 3}
    assert len(forked) == 1, f"cosigned both branches past the fork: {len(seen)} cosignatures"
    (branch,) = forked
    assert stored_root == trees[branch].root(stored_size)
    assert all(c.size <= stored_size and c.root == trees[branch].root(c.size) for c in seen)
    assert max(c.size for c in seen) <= stored_size
    async with httpx.AsyncClient(timeout=30) as client:  # after the restarts it still extends its branch
        tree = trees[branch]
        answer = await post(client, witness.url, tree.request(stored_size, min(stored_size + 1, 400)))
        assert answer.status_code == 200, answer.text
    assert "Traceback" not in witness.log()


async def test_tls_and_one_line_start_errors(
    witness_env: dict[str, str], tmp_path: Path, log_signer: NoteSigner
) -> None:
    # A CA and a certificate for 127.0.0.1 as the local stack makes them: one PEM with key, certificate and CA.
    ca = ensure_tls(tmp_path / "stack")
    keystore = broker_keystore(tmp_path / "stack")
    served = WitnessProcess(
        witness_env, tmp_path / "tls.log", "--tls-cert", str(keystore), "--tls-key", str(keystore)
    ).start()
    try:
        assert served.url.startswith("https://")
        async with httpx.AsyncClient(verify=ssl_context(ca), timeout=30) as client:
            answer = await post(client, served.url, Tree.grown(log_signer, 3, "t").request(0, 3))
        assert answer.status_code == 200
        verify_cosignature(
            witness_env["WITNESS_VKEY"], Tree.grown(log_signer, 3, "t").note(3), answer.content
        )
        port = served.url.rsplit(":", 1)[1]
        in_use = certctl(witness_env, "serve", "witness", "--port", port)
        assert in_use.returncode == 1 and in_use.stderr.startswith(
            f"certctl: error: cannot listen on 127.0.0.1:{port}"
        )
    finally:
        served.kill()
    ca_key = tls_dir(tmp_path / "stack") / "ca.key"  # a key without a certificate
    for args, message in [
        (["--tls-cert", str(keystore)], "TLS needs both --tls-cert and --tls-key"),
        (["--tls-cert", str(ca_key), "--tls-key", str(ca_key)], "cannot load the TLS certificate or key"),
    ]:
        failed = certctl(witness_env, "serve", "witness", "--port", "0", *args)
        assert failed.returncode == 1 and failed.stderr.startswith(f"certctl: error: {message}"), (
            failed.stderr
        )
    wrong = certctl({**witness_env, "CERTLIFE_KEY_PASSPHRASE": "wrong"}, "serve", "witness", "--port", "0")
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr and "Traceback" not in wrong.stderr
    empty = certctl({**witness_env, "CERTLIFE_KEYS_DIR": str(tmp_path / "none")}, "serve", "witness")
    assert empty.returncode == 1 and "run `certctl witness init --name NAME`" in empty.stderr
    for result in (wrong, empty):
        assert PASSPHRASE not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def ssl_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))
