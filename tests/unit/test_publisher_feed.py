"""The publisher's feed: records and checkpoints from the topics into the tiles, exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.cosignature import CosignatureSigner
from certlife.contracts.merkle import leaf_hash, root_from_leaf_hashes
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.trust import TrustFile
from certlife.services.partner.export import ExportWriter, read_checkpoints
from certlife.services.publisher.feed import GapError, PublisherError, TileFeed
from certlife.services.publisher.position import POSITION_FILE, Position
from certlife.services.tiles.writer import TileWriter

pytestmark = pytest.mark.unit

ORIGIN = "certlife.example/log"
SIGNER = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
RECORDS = [b'{"index":%d,"padding":"%s"}' % (i, b"x" * (i % 7)) for i in range(700)]


def note(size: int) -> str:
    root = root_from_leaf_hashes([leaf_hash(r) for r in RECORDS[:size]])
    return sign_checkpoint(Checkpoint(ORIGIN, size, root), SIGNER)


def files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def feed_log(feed: TileFeed, start: int, stop: int, offset_of: int = 0) -> None:
    for i in range(start, stop):
        feed.add_record(offset_of + i, str(i).encode(), RECORDS[i])


def test_checkpoints_publish_what_they_cover_and_the_position_follows(tmp_path: Path) -> None:
    feed = TileFeed(TileWriter(tmp_path), tmp_path)
    feed_log(feed, 0, 300)
    feed.add_checkpoint(0, note(260).encode())
    assert feed.flush() == [note(260)]
    assert feed.writer.size == 260, "records past the last checkpoint wait for theirs"
    assert (tmp_path / "checkpoint").read_text() == note(260)
    assert Position.load(tmp_path) == Position(260, 1)
    feed.add_checkpoint(1, note(600).encode())  # its records are not read yet
    assert feed.flush() == []
    assert Position.load(tmp_path) == Position(260, 1)
    feed_log(feed, 300, 600)
    assert feed.flush() == [note(600)]
    assert Position.load(tmp_path) == Position(600, 2)


def test_a_restart_anywhere_gives_the_same_tiles(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    feed = TileFeed(TileWriter(straight), straight)
    feed_log(feed, 0, 700)
    for n, size in enumerate((100, 256, 513, 700)):
        feed.add_checkpoint(n, note(size).encode())
    feed.flush()
    restarted = tmp_path / "restarted"
    cut = TileFeed(TileWriter(restarted), restarted)
    feed_log(cut, 0, 300)
    cut.add_checkpoint(0, note(100).encode())
    cut.add_checkpoint(1, note(256).encode())
    cut.flush()
    (restarted / POSITION_FILE).write_bytes(b'{"log": 10, "checkpoints": 0}')  # as if killed before saving
    again = TileFeed(TileWriter(restarted), restarted)
    assert again.position == Position(10, 0)
    feed_log(again, 10, 700)  # records 10..255 are in the tiles already: skipped
    for n, size in enumerate((100, 256, 513, 700)):
        again.add_checkpoint(n, note(size).encode())
    again.flush()
    assert files(restarted) == files(straight)


def test_gaps_and_other_bytes_are_errors(tmp_path: Path) -> None:
    feed = TileFeed(TileWriter(tmp_path), tmp_path)
    feed_log(feed, 0, 10)
    feed.add_checkpoint(0, note(10).encode())
    feed.flush()
    with pytest.raises(GapError, match="record 12 follows 9"):
        feed.add_record(50, b"12", RECORDS[12])
    with pytest.raises(PublisherError, match="record 3 differs"):
        feed.add_record(51, b"3", b"other bytes")
    with pytest.raises(PublisherError, match="not a record keyed"):
        feed.add_record(52, b"x", RECORDS[10])
    feed.add_record(53, b"3", RECORDS[3])  # the same bytes: skipped
    assert feed.writer.size == 10


def test_a_checkpoint_with_another_root_stops_the_feed(tmp_path: Path) -> None:
    feed = TileFeed(TileWriter(tmp_path), tmp_path)
    feed_log(feed, 0, 5)
    forged = sign_checkpoint(Checkpoint(ORIGIN, 5, b"\x01" * 32), SIGNER)
    feed.add_checkpoint(0, forged.encode())
    with pytest.raises(PublisherError, match="root hash differs"):
        feed.flush()


def test_republish_only_adds_signature_lines(tmp_path: Path) -> None:
    feed = TileFeed(TileWriter(tmp_path), tmp_path)
    feed_log(feed, 0, 5)
    feed.add_checkpoint(0, note(5).encode())
    feed.flush()
    witness = CosignatureSigner("w1.example", Ed25519PrivateKey.generate())
    cosigned = note(5) + witness.cosign(Checkpoint.parse(note(5).split("\n\n")[0] + "\n").body(), 7)
    assert feed.republish(cosigned)
    assert (tmp_path / "checkpoint").read_text() == cosigned
    assert not feed.republish(note(5)), "never back to fewer signature lines"
    assert not feed.republish(note(4))
    assert (tmp_path / "checkpoint").read_text() == cosigned


def test_export_keeps_the_note_with_most_signature_lines(tmp_path: Path) -> None:
    witness = CosignatureSigner("w1.example", Ed25519PrivateKey.generate())
    cosigned = note(3) + witness.cosign(Checkpoint.parse(note(3).split("\n\n")[0] + "\n").body(), 7)
    with ExportWriter(tmp_path) as writer:
        for record in RECORDS[:3]:
            writer.append(record)
        writer.write_checkpoint(3, note(3))
        writer.write_checkpoint(3, cosigned)
        writer.write_checkpoint(3, note(3))  # a plain copy read later does not win
        writer.write_trust(TrustFile(ORIGIN, (), (SIGNER.verifier_key(),)))
    assert read_checkpoints(tmp_path) == [(3, cosigned)]


class _Message:
    def __init__(self, offset: int, key: bytes | None, value: bytes) -> None:
        self.offset, self.key, self.value = offset, key, value


class _Consumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[str, int]] = []

    def seek(self, tp: object, offset: int) -> None:
        self.seeks.append((getattr(tp, "topic", ""), offset))


def test_a_position_ahead_of_the_tiles_reads_the_log_again(tmp_path: Path) -> None:
    from certlife.services.infra.connections import Kafka
    from certlife.services.infra.kafka_access import KafkaAccess
    from certlife.services.publisher.publisher import Publisher

    feed = TileFeed(TileWriter(tmp_path), tmp_path)
    feed_log(feed, 0, 10)
    feed.add_checkpoint(0, note(10).encode())
    feed.flush()
    Position(50, 1).save(tmp_path)  # say the tiles lost records the position counted
    publisher = Publisher(
        kafka=Kafka(KafkaAccess("127.0.0.1:1", plaintext=True)),
        log_topic="log",
        checkpoints_topic="checkpoints",
        directory=tmp_path,
        writer=TileWriter(tmp_path),
    )
    consumer = _Consumer()
    publisher._consumer = consumer
    publisher._take({publisher.log_tp: [_Message(50, b"30", RECORDS[30])]})
    assert consumer.seeks == [("log", 0)]
    records = [_Message(i, str(i).encode(), RECORDS[i]) for i in range(0, 40)]
    checkpoint = [_Message(1, b"40", note(40).encode())]
    publisher._take({publisher.log_tp: records, publisher.checkpoints_tp: checkpoint})
    assert publisher.writer.size == 40
    assert Position.load(tmp_path) == Position(40, 2)
    with pytest.raises(GapError):  # only once, right after the start
        publisher._take({publisher.log_tp: [_Message(60, b"45", RECORDS[45])]})
