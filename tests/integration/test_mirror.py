"""The partner mirror against real Kafka and PostgreSQL: it applies only verified records."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.records import RecordSigner, build_certificate_record, parse_record, record_hash
from certlife.services.demo.fixtures import generate
from certlife.services.partner.export import read_checkpoints, read_log_lines, read_trust
from certlife.services.partner.mirror_cmd import open_mirror
from tests.kafka import admin, client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "log"
    generate(out, certificates=60, seed=11, checkpoint_every=40)
    return out


def _key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


async def publish(
    bootstrap: str, prefix: str, records: list[bytes], notes: list[str], *, create: bool = True
) -> None:
    """A raw producer writes a (possibly tampered) log onto fresh topics (``create=False``: appends)."""
    if create:
        admin = AIOKafkaAdminClient(**client(bootstrap))
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(prefix + "certlife.log.v1", 1, 1),
                    NewTopic(prefix + "certlife.checkpoints.v1", 1, 1),
                ]
            )
        finally:
            await admin.close()
    producer = AIOKafkaProducer(**client(bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for value in records:
            await producer.send(prefix + "certlife.log.v1", value, partition=0)
        for note in notes:
            await producer.send(prefix + "certlife.checkpoints.v1", note.encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()


#: Mirror options of the serial path (a short log) and of the worker pool (small chunks, so
#: checkpoints fall inside chunks and runs straddle them).
MODES = {"serial": {}, "parallel": {"jobs": 2, "parallel_from": 0, "chunk": 16}}


async def mirror_once(
    kafka_bootstrap: str, database_url: str, export: Path, prefix: str, schema: str, **options
):  # type: ignore[no-untyped-def]
    async with open_mirror(
        admin(kafka_bootstrap),
        database_url,
        read_trust(export),
        schema=schema,
        topic_prefix=prefix,
        **options,
    ) as mirror:
        return await mirror.run(follow=False)


async def history_indexes(database_url: str, schema: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        return [r[0] for r in await conn.fetch(f'SELECT log_index FROM "{schema}".mirror_history ORDER BY 1')]
    finally:
        await conn.close()


def good_log(export: Path) -> tuple[list[bytes], list[str]]:
    return [v for _, v in read_log_lines(export)], [note for _, note in read_checkpoints(export)]


@pytest.mark.parametrize("mode", list(MODES))
async def test_mirror_applies_a_verified_log_and_resumes(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    export: Path,
    unique_name: Callable[[str], str],
    mode: str,
) -> None:
    records, notes = good_log(export)
    prefix = unique_name("mirror") + "."
    await publish(kafka_bootstrap, prefix, records, notes)
    first = await mirror_once(kafka_bootstrap, database_url, export, prefix, pg_schema, **MODES[mode])
    assert first.failure is None
    assert first.applied == len(records) == first.checkpoint_size
    assert await history_indexes(database_url, pg_schema) == [
        parse_record(r).index for r in records if parse_record(r).kind == "certificate"
    ]
    # Statuses and certificates equal the last record of each certificate.
    latest = {}
    for raw in records:
        rec = parse_record(raw)
        if rec.kind == "certificate":
            latest[rec.number] = (rec.data["status"], rec.data["certificate"])
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(f'SELECT number, status, certificate FROM "{pg_schema}".mirror_certificates')
    finally:
        await conn.close()
    assert {r["number"]: (r["status"], json.loads(r["certificate"])) for r in rows} == latest
    # A restart re-verifies everything and applies nothing twice.
    again = await mirror_once(kafka_bootstrap, database_url, export, prefix, pg_schema, **MODES[mode])
    assert again.failure is None and again.applied == 0 and again.verified == len(records)


@pytest.mark.parametrize("mode", list(MODES))
async def test_records_past_the_newest_checkpoint_wait_for_the_next(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    export: Path,
    unique_name: Callable[[str], str],
    mode: str,
) -> None:
    records, notes = good_log(export)
    sizes = [size for size, _ in read_checkpoints(export)]
    prefix = unique_name("wait") + "."
    await publish(kafka_bootstrap, prefix, records, notes[:-1])
    first = await mirror_once(kafka_bootstrap, database_url, export, prefix, pg_schema, **MODES[mode])
    assert first.failure is None and first.checkpoint_size == sizes[-2]
    assert first.applied == sizes[-2] and first.pending == len(records) - sizes[-2]
    assert max(await history_indexes(database_url, pg_schema)) < sizes[-2]
    await publish(kafka_bootstrap, prefix, [], notes[-1:], create=False)
    second = await mirror_once(kafka_bootstrap, database_url, export, prefix, pg_schema, **MODES[mode])
    assert second.failure is None and second.pending == 0
    assert second.applied == len(records) - sizes[-2] and second.checkpoint_size == len(records)


def _tampered_bad_signature(
    records: list[bytes], notes: list[str], export: Path
) -> tuple[list[bytes], list[str], int]:
    k = len(records) // 2
    raw = bytearray(records[k])
    sig_at = raw.index(b'"sig":"') + 8
    raw[sig_at] = ord("A") if raw[sig_at] != ord("A") else ord("B")
    return [*records[:k], bytes(raw), *records[k + 1 :]], notes, k


def _tampered_skipped_index(
    records: list[bytes], notes: list[str], export: Path
) -> tuple[list[bytes], list[str], int]:
    k = len(records) // 2
    return [*records[:k], *records[k + 1 :]], notes, k


def _tampered_reinstated_revocation(
    records: list[bytes], notes: list[str], export: Path
) -> tuple[list[bytes], list[str], int]:
    """A validly signed, chained and checkpointed record that reinstates a revoked certificate."""
    last: dict[str, bytes] = {}
    for raw in records:
        rec = parse_record(raw)
        if rec.kind == "certificate":
            last[rec.number or ""] = raw
    revoked = next(raw for raw in last.values() if parse_record(raw).data["status"] == "revoked")
    rec = parse_record(revoked)
    index = len(records)
    forged = build_certificate_record(
        origin=rec.origin,
        index=index,
        certificate=rec.data["certificate"],
        event="reinstated",
        status="valid",
        seq=rec.data["seq"] + 1,
        prev=record_hash(revoked),
        reason="forged",
        effective_at=rec.data["recordedAt"],
        recorded_at=rec.data["recordedAt"],
        signer=RecordSigner(_key(export / "fixture-signing-key.pem")),
    )
    frontier = MerkleFrontier()
    for raw in [*records, forged]:
        frontier.append(leaf_hash(raw))
    note = sign_checkpoint(
        Checkpoint(rec.origin, index + 1, frontier.root()),
        NoteSigner(rec.origin, _key(export / "fixture-note-key.pem")),
    )
    return [*records, forged], [*notes, note], index


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_tampered_bad_signature, "bad-signature"),
        (_tampered_skipped_index, "index-gap"),
        (_tampered_reinstated_revocation, "illegal-transition"),
    ],
)
async def test_mirror_rejects_injected_records(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    export: Path,
    unique_name: Callable[[str], str],
    tamper,
    code: str,  # type: ignore[no-untyped-def]
    mode: str,
) -> None:
    records, notes, bad_index = tamper(*good_log(export), export)
    prefix = unique_name("tamper") + "."
    await publish(kafka_bootstrap, prefix, records, notes)
    result = await mirror_once(kafka_bootstrap, database_url, export, prefix, pg_schema, **MODES[mode])
    assert result.failure is not None, "the tampered log was accepted"
    assert result.failure.code == code
    assert result.failure.index == (bad_index + 1 if code == "index-gap" else bad_index)
    applied = await history_indexes(database_url, pg_schema)
    assert applied, "nothing was applied before the violation"
    assert max(applied) < bad_index, "a record at or past the violation was applied"
    anchored = max(size for size, _ in read_checkpoints(export) if size <= bad_index)
    assert result.checkpoint_size == anchored, "a checkpoint verified before the violation was not applied"
    conn = await asyncpg.connect(database_url)
    try:
        failure = await conn.fetchval(f'SELECT failure FROM "{pg_schema}".mirror_state')
    finally:
        await conn.close()
    assert code in failure
