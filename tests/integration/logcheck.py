"""Read a relayed log back from Kafka and check it the way a partner would."""

from __future__ import annotations

from dataclasses import dataclass, field

from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.notes import Checkpoint, NoteVerifier, verify_checkpoint
from certlife.contracts.records import Record, parse_record, record_hash
from certlife.contracts.trust import KeyRing, TrustFile
from certlife.services.infra.connections import Kafka
from certlife.services.relay.kafka_side import read_from
from tests.kafka import admin


async def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every committed value of partition 0 of ``topic``, in offset order."""
    return [value async for _, value in read_from(Kafka(admin(bootstrap)).consumer, topic, 0)]


@dataclass
class LogReport:
    """What a full check of a relayed log found."""

    records: list[Record] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Number of records."""
        return len(self.records)


async def check_log(bootstrap: str, prefix: str, trust: TrustFile, limit: int | None = None) -> LogReport:
    """Indexes 0..N-1 once each in order, signatures, chains, roots under checkpoints."""
    report = LogReport()
    values = (await read_topic(bootstrap, prefix + "certlife.log.v1"))[:limit]
    ring = KeyRing(trust)
    frontier = MerkleFrontier()
    roots: dict[int, bytes] = {0: frontier.root()}
    heads: dict[str, tuple[int, str]] = {}
    for position, value in enumerate(values):
        rec = parse_record(value)
        assert rec.index == position, f"record at position {position} has index {rec.index}"
        ring.verify(rec)
        if rec.kind == "certificate":
            seq, prev = heads.get(rec.number or "", (0, None))
            assert rec.data["seq"] == seq + 1, f"index {rec.index}: seq {rec.data['seq']} after {seq}"
            assert rec.data["prev"] == prev, f"index {rec.index}: prev does not chain"
            heads[rec.number or ""] = (seq + 1, record_hash(value))
        frontier.append(leaf_hash(value))
        roots[frontier.size] = frontier.root()
        report.records.append(rec)
    verifiers = [NoteVerifier.from_string(k) for k in trust.note_keys]
    for note in await read_topic(bootstrap, prefix + "certlife.checkpoints.v1"):
        cp = verify_checkpoint(note.decode(), verifiers, trust.origin)
        if limit is not None and cp.size > limit:
            continue
        assert cp.size in roots, f"checkpoint at {cp.size} beyond the log ({frontier.size})"
        assert cp.root_hash == roots[cp.size], f"checkpoint at {cp.size}: root differs"
        report.checkpoints.append(cp)
    return report
