"""Checkpoint -> cosigned checkpoint latency with two local witnesses.

``python -m bench.bench_cosign [--checkpoints 200] [--step 100]`` starts two
``certctl serve witness`` processes (PostgreSQL state in fresh schemas, keys in
a temporary folder) for an in-memory log, and hands each new checkpoint to the
publisher's witness client (``certlife.services.publisher.cosigner.Cosigner``),
which asks both witnesses with a consistency proof and publishes the note with
both cosignatures on a Kafka topic (an idempotent producer, as the publisher
does). The latency is from ``offer`` to the cosigned note's ``send_and_wait``
returning. Beside it, in the same run: one bare ``add-checkpoint`` round trip
to one witness (what the two requests in parallel cost at least).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import Figure, endpoints, fresh_names, kafka_access, median, report
from certlife.contracts.cosignature import CosignatureVerifier
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.witness import encode_add_checkpoint
from certlife.services.infra.stack import provision_if_local
from certlife.services.infra.topics import TopicSpec, ensure_topics
from certlife.services.publisher.cosigner import Cosigner, CosignerOptions, Witness
from certlife.services.tiles.writer import TileWriter

ORIGIN = "bench.certlife.example/log"


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))]


class WitnessProcess:
    """``certctl serve witness --port 0`` set up for the bench log; its URL read from its log."""

    def __init__(self, name: str, env: dict[str, str], folder: Path, note_key: str) -> None:
        self.env, self.log = env, folder / f"{name}.log"
        run = [sys.executable, "-m", "certlife.services.cli.certctl", "witness"]
        init = subprocess.run(
            [*run, "init", "--name", name], env=env, capture_output=True, text=True, check=True
        )
        self.vkey = re.search(r"witness key:\s+(\S+)", init.stdout)[1]  # type: ignore[index]
        subprocess.run(
            [*run, "add-log", "--origin", ORIGIN, "--key", note_key], env=env, check=True, capture_output=True
        )
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "witness", "--port", "0"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"witness listening on (http://127\.0\.0\.1:\d+)", self.log.read_text())
            if found:
                self.url = found[1]
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"bench_cosign: the witness did not start:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


class Log:
    """A log growing by ``step`` records per checkpoint, written as tiles (proofs come from them)."""

    def __init__(self, step: int, tiles: Path) -> None:
        self.signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
        self.writer = TileWriter(tiles)
        self.step = step

    @property
    def size(self) -> int:
        return self.writer.size

    def grow(self) -> str:
        start = self.writer.size
        self.writer.append([b'{"index":%d}' % i for i in range(start, start + self.step)])
        return self.note()

    def note(self) -> str:
        root = self.writer.hashes(self.writer.size).root()
        return sign_checkpoint(Checkpoint(ORIGIN, self.writer.size, root), self.signer)

    def proof(self, old: int, new: int) -> list[bytes]:
        return self.writer.hashes(new).consistency_proof(old)


async def cosigned_latencies(
    log: Log, witnesses: list[Witness], producer: AIOKafkaProducer, topic: str, count: int
) -> list[float]:
    """Seconds from each checkpoint's offer to its note with both cosignatures sent to Kafka."""
    done: dict[int, float] = {}
    arrived = asyncio.Event()

    async def publish(size: int, note: str) -> None:
        await producer.send_and_wait(topic, note.encode(), key=str(size).encode(), partition=0)
        if note.count("\n— ") == 1 + len(witnesses):
            done[size] = time.perf_counter()
            arrived.set()

    stop = asyncio.Event()
    async with httpx.AsyncClient() as client:
        cosigner = Cosigner(witnesses, client, log.proof, publish, CosignerOptions(gather=5.0))
        task = asyncio.create_task(cosigner.run(stop))
        latencies = []
        for _ in range(count):
            note = log.grow()
            started = time.perf_counter()
            cosigner.offer(note)
            size = log.size
            while size not in done:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), 30)
            latencies.append(done[size] - started)
        stop.set()
        await task
    return latencies[5:]  # the first ones include the 409 that tells each witness's size


async def kafka_sends(producer: AIOKafkaProducer, topic: str, note: str, count: int) -> list[float]:
    """Seconds per ``send_and_wait`` of a cosigned note alone (the publish step of the path)."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await producer.send_and_wait(topic, note.encode(), key=b"0", partition=0)
        times.append(time.perf_counter() - started)
    return times[5:]


async def bare_round_trips(log: Log, url: str, old: int, count: int) -> list[float]:
    """Seconds per ``add-checkpoint`` request to one witness, consistent checkpoints back to back."""
    times = []
    async with httpx.AsyncClient() as client:
        for _ in range(count):
            note = log.grow()
            body = encode_add_checkpoint(old, log.proof(old, log.size), note)
            started = time.perf_counter()
            response = await client.post(url + "/add-checkpoint", content=body)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            old = log.size
    return times[5:]


async def run(
    bootstrap: str, database_url: str, prefix: str, schema: str, count: int, step: int
) -> tuple[list[Figure], dict[str, object]]:
    """Both witnesses up, the cosigned latencies, then the bare round trips."""
    topic = prefix + "checkpoints"
    access = kafka_access(bootstrap)
    await ensure_topics(access, [TopicSpec(topic, partitions=1)])
    schemas = [f"{schema}_w{n}" for n in (1, 2)]
    processes: list[WitnessProcess] = []
    with tempfile.TemporaryDirectory() as folder:
        log = Log(step, Path(folder) / "tiles")
        try:
            for n, name in enumerate(schemas, 1):
                env = {
                    **os.environ,
                    "CERTLIFE_DATABASE_URL": database_url,
                    "CERTLIFE_DB_SCHEMA": name,
                    "CERTLIFE_KEYS_DIR": f"{folder}/w{n}",
                    "CERTLIFE_KEY_PASSPHRASE": f"bench-{os.getpid()}",
                }
                processes.append(WitnessProcess(f"w{n}.bench", env, Path(folder), log.signer.verifier_key()))
            witnesses = [
                Witness(f"w{n}", CosignatureVerifier.from_string(p.vkey), p.url)
                for n, p in enumerate(processes, 1)
            ]
            producer = AIOKafkaProducer(**access.client_options(), enable_idempotence=True, acks="all")
            await producer.start()
            try:
                cosigned = await cosigned_latencies(log, witnesses, producer, topic, count)
                sends = await kafka_sends(producer, topic, log.note(), count)
            finally:
                await producer.stop()
            bare = await bare_round_trips(log, processes[0].url, log.size, count)
        finally:
            for proc in processes:
                proc.stop()
            conn = await asyncpg.connect(database_url)
            try:
                for name in schemas:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            finally:
                await conn.close()
    us = 1e6
    figures = [
        Figure(
            "checkpoint -> cosigned (2 witnesses), median",
            median(cosigned) * us,
            "us",
            "one bare add-checkpoint, median",
            median(bare) * us,
        ),
        Figure(
            "checkpoint -> cosigned (2 witnesses), p99",
            p99(cosigned) * us,
            "us",
            "one bare add-checkpoint, p99",
            p99(bare) * us,
        ),
    ]
    extra: dict[str, object] = {
        "Kafka publish of a cosigned note alone (idempotent, acks=all), median us": round(median(sends) * us),
        "Kafka publish of a cosigned note alone, p99 us": round(p99(sends) * us),
    }
    return figures, extra


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoints", type=int, default=200)
    parser.add_argument("--step", type=int, default=100, help="records per checkpoint")
    args = parser.parse_args()
    bootstrap, database_url = endpoints()
    prefix, schema = fresh_names("cosign")
    provision_if_local(bootstrap, prefix)
    figures, extra = asyncio.run(run(bootstrap, database_url, prefix, schema, args.checkpoints, args.step))
    report(
        "checkpoint -> cosigned checkpoint on Kafka, two local witnesses (certctl serve witness, PostgreSQL state)",
        figures,
        {**extra, "checkpoints": args.checkpoints, "records per checkpoint": args.step},
        None,
    )


if __name__ == "__main__":
    main()
