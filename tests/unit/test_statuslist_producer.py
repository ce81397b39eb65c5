"""The publisher's status list producer: lists as of a checkpoint, queued once, latest only when committed."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from certlife.contracts.credentials.bitstring import set_indexes
from certlife.contracts.credentials.proof import verify_document
from certlife.contracts.credentials.statuslist import parse_status_list
from certlife.contracts.merkle import leaf_hash, root_from_leaf_hashes
from certlife.contracts.notes import Checkpoint, sign_checkpoint
from certlife.contracts.records import RecordSigner
from certlife.services.publisher.statuslists import ListProducer, QueueError, tile_entries
from certlife.services.relay.keystore import KeyStore, write_private_key
from certlife.services.relay.store import KeyRequest
from certlife.services.tiles.writer import TileWriter
from tests.unit.logbuilder import LogBuilder, private_key

pytestmark = pytest.mark.unit

PASS = b"producer-test"


class Queue:
    """Records queued requests; fails while ``failing``."""

    def __init__(self) -> None:
        self.requests: list[KeyRequest] = []
        self.failing = False

    async def __call__(self, request: KeyRequest) -> None:
        if self.failing:
            raise QueueError("PostgreSQL is down")
        self.requests.append(request)


def _producer(tmp_path: Path, b: LogBuilder, queue: Queue, *, with_key: bool = True) -> ListProducer:
    keystore = KeyStore(tmp_path / "keys", PASS)
    (tmp_path / "keys").mkdir(parents=True, exist_ok=True)
    if with_key:
        kid = RecordSigner(private_key("c1")).key_id
        write_private_key(keystore.credential_key_path(kid), private_key("c1"), PASS)
    return ListProducer(b.origin, tmp_path / "tiles", keystore, queue)


def _log() -> LogBuilder:
    b = LogBuilder()
    b.announce_credential_key("c1")  # 0: c1 in force from 1
    b.issue_many(4)  # 1-4 issued (list indexes 0-3), then C-0000 and C-0003 suspended and reinstated
    b.add("C-0002", "suspended", "suspended")
    return b


def _commit(b: LogBuilder, producer: ListProducer, queue: Queue) -> None:
    """The relay's part: a statuslist record for every queued request, followed by the producer."""
    start = len(b.records)
    for request in queue.requests:
        assert request.purpose is not None and request.sha256 is not None
        b.commit_statuslist(request.purpose, request.sha256, log_size=request.log_size)
    queue.requests.clear()
    producer.follow(b.records[start:])


def test_lists_are_built_queued_and_published_once_committed(tmp_path: Path) -> None:
    b, queue = _log(), Queue()
    producer = _producer(tmp_path, b, queue)
    producer.follow(b.records)
    size = len(b.records)
    asyncio.run(producer.after_checkpoint(size))
    assert [(r.action, r.purpose, r.log_size) for r in queue.requests] == [
        ("statuslist", "revocation", size),
        ("statuslist", "suspension", size),
    ]
    folder = tmp_path / "tiles" / "statuslists"
    for request in queue.requests:
        raw = (folder / f"{request.purpose}.{size}").read_bytes()
        assert hashlib.sha256(raw).hexdigest() == request.sha256
        assert request.list_id == f"https://{b.origin}/statuslists/{request.purpose}"
        parsed = parse_status_list(raw)
        assert parsed.log_size == size and parsed.document["validFrom"] == b.time(size - 1)
        verify_document(parsed.document, RecordSigner(private_key("c1")).public_raw)
    suspension = parse_status_list((folder / f"suspension.{size}").read_bytes())
    assert set_indexes(suspension.bits) == [2]
    assert not (folder / "revocation").exists()  # not committed yet: not the latest list
    _commit(b, producer, queue)
    assert (folder / "revocation").read_bytes() == (folder / f"revocation.{size}").read_bytes()
    assert (folder / "suspension").read_bytes() == (folder / f"suspension.{size}").read_bytes()
    # Nothing changed (only the commitments were added): nothing new.
    asyncio.run(producer.after_checkpoint(len(b.records)))
    assert queue.requests == []
    # A revocation changes the revocation list only.
    b.add("C-0001", "revoked", "revoked")
    producer.follow(b.records[-1:])
    asyncio.run(producer.after_checkpoint(len(b.records)))
    assert [(r.purpose, r.log_size) for r in queue.requests] == [("revocation", len(b.records))]
    revoked = parse_status_list((folder / f"revocation.{len(b.records)}").read_bytes())
    assert set_indexes(revoked.bits) == [1]


def test_a_list_not_queued_is_built_again_after_the_next_checkpoint(tmp_path: Path) -> None:
    b, queue = _log(), Queue()
    producer = _producer(tmp_path, b, queue)
    producer.follow(b.records)
    queue.failing = True
    asyncio.run(producer.after_checkpoint(len(b.records)))
    assert queue.requests == []
    queue.failing = False
    b.add("C-0000", "amended", "valid")
    producer.follow(b.records[-1:])
    asyncio.run(producer.after_checkpoint(len(b.records)))
    assert [r.purpose for r in queue.requests] == ["revocation", "suspension"]


def test_after_a_restart_the_committed_lists_are_not_built_again(tmp_path: Path) -> None:
    b, queue = _log(), Queue()
    first = _producer(tmp_path, b, queue)
    first.follow(b.records)
    asyncio.run(first.after_checkpoint(len(b.records)))
    _commit(b, first, queue)
    again = _producer(tmp_path, b, queue)
    again.follow(b.records)
    asyncio.run(again.after_checkpoint(len(b.records)))
    assert queue.requests == []


def test_no_list_without_a_key_in_force_or_its_private_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    b, queue = LogBuilder(), Queue()
    b.issue_many(2)
    producer = _producer(tmp_path, b, queue)
    producer.follow(b.records)
    asyncio.run(producer.after_checkpoint(len(b.records)))  # no credential key announced
    b.announce_credential_key("c1")
    producer.follow(b.records[-1:])
    asyncio.run(producer.after_checkpoint(len(b.records)))  # announced, in force from the next index
    assert queue.requests == []
    asyncio.run(producer.after_checkpoint(len(b.records) - 1))  # not the size the producer followed
    assert queue.requests == []
    b2, queue2 = _log(), Queue()
    keyless = _producer(tmp_path / "other", b2, queue2, with_key=False)
    keyless.follow(b2.records)
    asyncio.run(keyless.after_checkpoint(len(b2.records)))
    assert queue2.requests == [] and "is in force but not in" in caplog.text


def test_tile_entries_reads_back_what_the_writer_holds(tmp_path: Path) -> None:
    records = [b'{"n":%d}' % i for i in range(300)]
    writer = TileWriter(tmp_path)
    writer.append(records[:300])
    root = root_from_leaf_hashes([leaf_hash(r) for r in records])
    writer.publish(sign_checkpoint(Checkpoint("t.example/log", 300, root), LogBuilder().note_signer))
    assert list(tile_entries(tmp_path, 300)) == records
    assert list(tile_entries(TileWriter(tmp_path).directory, 256)) == records[:256]


def test_a_record_the_list_rule_cannot_take_stops_the_lists_not_the_publisher(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    b, queue = _log(), Queue()
    producer = _producer(tmp_path, b, queue)
    producer.follow([*b.records, b"not a record", b.records[0]])
    asyncio.run(producer.after_checkpoint(len(b.records)))
    assert queue.requests == [] and "status lists stopped at log size" in caplog.text


def test_the_fast_reading_gives_the_bits_the_parsed_records_give(tmp_path: Path) -> None:
    from certlife.contracts.credentials.listindex import StatusBits
    from certlife.contracts.records import parse_record

    b = _log()
    b.add("C-0001", "revoked", "revoked", reason='a "quoted" reason\\')
    b.add("C-0003", "withdrawn", "withdrawn")
    producer = _producer(tmp_path, b, Queue())
    producer.follow(b.records)
    parsed = StatusBits()
    for raw in b.records:
        parsed.apply(parse_record(raw))
    for purpose in ("revocation", "suspension"):
        assert producer.bits.set_bits(purpose) == parsed.set_bits(purpose)
    assert producer.bits.set_bits("revocation") == {1, 3} and producer.bits.log_size == len(b.records)
