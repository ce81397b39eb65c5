"""The log's witness client against fake witnesses (Starlette apps over httpx's ASGI transport)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from certlife.contracts.cosignature import CosignatureSigner
from certlife.contracts.merkle import consistency_proof, leaf_hash, root_from_leaf_hashes
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.witness import encode_conflict, parse_add_checkpoint
from certlife.services.publisher.cosigner import Cosigner, CosignerOptions, Witness
from certlife.services.publisher.witnesses import WitnessFileError, parse_witnesses

pytestmark = pytest.mark.unit

ORIGIN = "certlife.example/log"
LOG_KEY = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
LEAVES = [leaf_hash(b"record %d" % i) for i in range(64)]


def note_of(size: int) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, root_from_leaf_hashes(LEAVES[:size])), LOG_KEY)


def proofs(old: int, new: int) -> list[bytes]:
    return consistency_proof(LEAVES, old, new)


class FakeWitness:
    """A witness that keeps its size in memory; ``script`` overrides answers."""

    def __init__(self, name: str) -> None:
        self.signer = CosignatureSigner(name, Ed25519PrivateKey.generate())
        self.size = 0
        self.requests: list[tuple[int, int]] = []  # (old size, checkpoint size)
        self.script: list[Callable[[int, int], Response] | None] = []
        self.delay = 0.0

    @property
    def witness(self) -> Witness:
        return Witness(self.signer.name, self.signer.verifier, f"http://{self.signer.name}")

    async def add_checkpoint(self, request: Request) -> Response:
        parsed = parse_add_checkpoint(await request.body())
        body = parsed.note[: parsed.note.rfind("\n\n") + 1]
        size = Checkpoint.parse(body).size
        self.requests.append((parsed.old_size, size))
        if self.delay:
            await asyncio.sleep(self.delay)
        scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return scripted(parsed.old_size, size)
        if parsed.old_size != self.size:
            return Response(encode_conflict(self.size), 409, media_type="text/x.tlog.size")
        expected = [] if parsed.old_size in (0, size) else proofs(parsed.old_size, size)
        if list(parsed.proof) != expected:
            return Response(b"bad proof\n", 422)
        self.size = size
        return Response(self.signer.cosign(body, 1_700_000_000).encode(), 200)


class Witnesses(httpx.AsyncBaseTransport):
    """Routes each request to the fake witness named by its host."""

    def __init__(self, fakes: list[FakeWitness]) -> None:
        self.apps = {
            f.signer.name: httpx.ASGITransport(
                Starlette(routes=[Route("/add-checkpoint", f.add_checkpoint, methods=["POST"])])
            )
            for f in fakes
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.apps[request.url.host].handle_async_request(request)


class Harness:
    def __init__(self, *names: str, **options: float) -> None:
        self.fakes = [FakeWitness(n) for n in names]
        self.published: list[tuple[int, str]] = []
        self.client = httpx.AsyncClient(transport=Witnesses(self.fakes))
        opts = {"backoff_initial": 0.05, "backoff_cap": 0.2, "gather": 0.5, "timeout": 1.0, **options}
        self.cosigner = Cosigner(
            [f.witness for f in self.fakes], self.client, proofs, self._publish, CosignerOptions(**opts)
        )
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _publish(self, size: int, note: str) -> None:
        self.published.append((size, note))

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.cosigner.run(self.stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await self.task
        await self.client.aclose()

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            assert asyncio.get_running_loop().time() < deadline, "condition not reached"
            await asyncio.sleep(0.01)


def cosigners(note: str, fakes: list[FakeWitness]) -> set[str]:
    names = {f.signer.name for f in fakes}
    return {
        line.split(" ")[1]
        for line in note.splitlines()
        if line.startswith("— ") and line.split(" ")[1] in names
    }


async def test_two_witnesses_cosign_in_one_message() -> None:
    async with Harness("w1.example", "w2.example") as h:
        h.cosigner.offer(note_of(10))
        await h.until(lambda: bool(h.published))
        await asyncio.sleep(0.1)
    assert len(h.published) == 1
    size, note = h.published[0]
    assert size == 10 and note.startswith(note_of(10)[: note_of(10).rfind("\n\n")])
    assert cosigners(note, h.fakes) == {"w1.example", "w2.example"}
    # A witness that never cosigned this log is at size 0: one request each.
    assert h.fakes[0].requests == [(0, 10)]


async def test_409_is_retried_from_the_witness_size_with_a_proof() -> None:
    async with Harness("w1.example") as h:
        h.fakes[0].size = 7  # it cosigned size 7 before (e.g. before a restart of the log's publisher)
        h.cosigner.offer(note_of(7 + 5))
        await h.until(lambda: bool(h.published))
    assert h.fakes[0].requests == [(0, 12), (7, 12)]
    assert h.cosigner.status["w1.example"].refusals == {}
    # The next checkpoint goes straight from 12 with a consistency proof.
    async with Harness("w1.example") as h2:
        h2.fakes[0].size = 12
        h2.cosigner.status["w1.example"].known_size = 12
        h2.cosigner.offer(note_of(20))
        await h2.until(lambda: bool(h2.published))
    assert h2.fakes[0].requests == [(12, 20)]


async def test_refusals_are_recorded_and_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "certlife.publisher")
    refuse_422 = lambda old, size: Response(b"inconsistent\n", 422)  # noqa: E731
    refuse_403 = lambda old, size: Response(b"no\n", 403)  # noqa: E731
    async with Harness("w1.example") as h:
        h.fakes[0].script = [refuse_422, refuse_422, refuse_403]
        h.cosigner.offer(note_of(5))
        await h.until(lambda: bool(h.published))
    refusals = h.cosigner.status["w1.example"].refusals
    assert sum(n for cause, n in refusals.items() if cause.startswith("422")) == 2
    assert sum(n for cause, n in refusals.items() if cause.startswith("403")) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len([w for w in warnings if "422" in w]) == 1, "a cause is logged once while it lasts"
    assert any("cosigned size 5 after" in r.getMessage() and "x2" in r.getMessage() for r in caplog.records)


async def test_timeouts_back_off_exponentially_and_never_block_other_witnesses() -> None:
    async with Harness(
        "slow.example", "fast.example", timeout=0.1, backoff_initial=0.1, backoff_cap=0.4
    ) as h:
        slow = h.fakes[0]
        slow.delay = 1.0
        h.cosigner.offer(note_of(9))
        await h.until(lambda: bool(h.published))
        assert cosigners(h.published[0][1], h.fakes) == {"fast.example"}
        await asyncio.sleep(1.2)
        status = h.cosigner.status["slow.example"]
        attempts = len(slow.requests)
        # 0.1 s per attempt + 0.1, 0.2, 0.4, 0.4... between them: about 4-5 in 1.3 s, not 13.
        assert 3 <= attempts <= 6, attempts
        assert status.refusals == {"no answer within 0.1 s": attempts}
        slow.delay = 0.0
        await h.until(lambda: len(h.published) == 2, timeout=3)
    assert cosigners(h.published[1][1], h.fakes) == {"fast.example", "slow.example"}


async def test_a_bad_cosignature_is_rejected() -> None:
    impostor = CosignatureSigner("w1.example", Ed25519PrivateKey.generate())

    def wrong_key(old: int, size: int) -> Response:
        body = note_of(size)[: note_of(size).rfind("\n\n") + 1]
        return Response(impostor.cosign(body, 1).encode(), 200)

    def wrong_checkpoint(old: int, size: int) -> Response:
        body = note_of(size - 1)[: note_of(size - 1).rfind("\n\n") + 1]
        return Response(h.fakes[0].signer.cosign(body, 1).encode(), 200)

    async with Harness("w1.example", backoff_cap=5.0, backoff_initial=5.0) as h:
        h.fakes[0].script = [wrong_key, wrong_checkpoint]
        h.cosigner.offer(note_of(6))
        await h.until(lambda: sum(h.cosigner.status["w1.example"].refusals.values()) >= 1)
    assert h.published == []
    assert list(h.cosigner.status["w1.example"].refusals) == [
        "no valid cosignature by its key in the 200 answer"
    ]
    # The second bad answer (a cosignature of another checkpoint) is rejected too.
    async with Harness("w1.example") as h:
        h.fakes[0].script = [wrong_checkpoint]
        h.cosigner.offer(note_of(6))
        await h.until(lambda: bool(h.published))
    assert sum(h.cosigner.status["w1.example"].refusals.values()) == 1
    assert len([line for line in h.published[0][1].splitlines() if line.startswith("— w1.example")]) == 1


async def test_a_newer_checkpoint_supersedes_one_still_waiting() -> None:
    down = lambda old, size: Response(b"busy\n", 503)  # noqa: E731
    async with Harness("w1.example", backoff_initial=0.3, backoff_cap=0.3) as h:
        h.fakes[0].script = [down]
        h.cosigner.offer(note_of(10))
        await h.until(lambda: len(h.fakes[0].requests) == 1)
        h.cosigner.offer(note_of(15))
        h.cosigner.offer(note_of(12))  # older than the newest: ignored
        await h.until(lambda: bool(h.published))
        await asyncio.sleep(0.2)
    assert [size for size, _ in h.published] == [15]
    assert [size for _, size in h.fakes[0].requests] == [10, 15]
    assert h.cosigner.status["w1.example"].refusals == {"503 server error": 1}


async def test_a_note_already_cosigned_is_not_asked_again() -> None:
    async with Harness("w1.example") as h:
        h.cosigner.offer(note_of(4))
        await h.until(lambda: bool(h.published))
        asked = len(h.fakes[0].requests)
        # After a restart the publisher offers the tiles' note, which carries the cosignature.
        restarted = Cosigner([h.fakes[0].witness], h.client, proofs, h._publish)
        restarted.offer(h.published[0][1])
        stop = asyncio.Event()
        task = asyncio.create_task(restarted.run(stop))
        await asyncio.sleep(0.2)
        stop.set()
        await task
    assert restarted.status["w1.example"].cosigned == 4
    assert len(h.fakes[0].requests) == asked


def test_witness_file() -> None:
    signer = CosignatureSigner("w1.example", Ed25519PrivateKey.generate())
    other = CosignatureSigner("w2.example", Ed25519PrivateKey.generate())
    text = f"witness w1 {signer.vkey()} http://127.0.0.1:8001\nwitness w2 {other.vkey()}\nquorum w1\n"
    [only] = parse_witnesses(text)
    assert (only.name, only.url, only.verifier.name) == ("w1", "http://127.0.0.1:8001", "w1.example")
    with pytest.raises(WitnessFileError, match="no 'witness NAME VKEY URL' line"):
        parse_witnesses(f"witness w2 {signer.vkey()}\nquorum none\n")
    with pytest.raises(WitnessFileError, match="witness file"):
        parse_witnesses("witness\n")
