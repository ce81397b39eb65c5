"""The relay's builder process (``certlife.services.relay.builder``) builds exactly what a thread would.

Ed25519 is deterministic, so the same events, heads, state and key give the same
bytes whichever process signs them; the refusal and the chain check cross the
process boundary with their type and message.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.commands import parse_command
from certlife.contracts.records import RecordSigner, parse_record, record_hash
from certlife.services.commands.application import CertificateApplication
from certlife.services.relay.builder import RecordBuilder, split
from certlife.services.relay.records import ChainBroken, EventSource, InadmissibleEvent
from certlife.services.relay.state import RelayState
from certlife.services.relay.store import Head

pytestmark = pytest.mark.unit

ISSUER = "cqc.example"
ORIGIN = "certlife.example/log"
SIGNER = RecordSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


def _sources(count: int) -> list[EventSource]:
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "CERTLIFE_ISSUER": ISSUER})
    try:
        out = []
        for i in range(count):
            number = f"CQC-{i:04d}"
            command = {
                "type": "issue", "commandId": f"c-{i}", "issuer": ISSUER, "number": number,
                "scheme": "CCC", "holder": "Volt Mobility", "manufacturer": "Volt Mobility",
                "factories": ["Hefei plant 1"], "product": "DC charger", "models": ["DC-120"],
                "standards": ["IEC 61851-1"], "scope": "DC chargers",
                "validFrom": "2030-01-01T00:00:00Z", "validUntil": "2033-01-01T00:00:00Z",
            }  # fmt: skip
            assert app.handle(parse_command(json.dumps(command).encode()), NOW).status == "accepted"
            app.handle(parse_command(json.dumps({"type": "suspend", "commandId": f"s-{i}",
                                                 "issuer": ISSUER, "number": number,
                                                 "reason": "audit"}).encode()), NOW)  # fmt: skip
            out += [EventSource.of(e) for e in app.history(number, ISSUER)]
        return out
    finally:
        app.close()


def _build(sources: list[EventSource], heads: dict[str, Head], in_process: bool):  # type: ignore[no-untyped-def]
    # inline_below=0: even these small batches go to the worker process
    builder = RecordBuilder(ORIGIN, in_process=in_process, inline_below=0)
    try:
        return asyncio.run(builder.build(sources, heads, RelayState(), SIGNER))
    finally:
        builder.close()


def test_the_builder_process_signs_the_same_bytes_as_a_thread() -> None:
    sources = _sources(5)
    (in_proc, proc_state), (in_thread, thread_state) = _build(sources, {}, True), _build(sources, {}, False)
    assert in_proc.records == in_thread.records and len(in_proc.records) == 10
    assert in_proc.events == in_thread.events and in_proc.heads == in_thread.heads
    assert proc_state.frontier.root() == thread_state.frontier.root() and proc_state.tree_size == 10
    second = parse_record(in_proc.records[1])  # the suspension chains to the issue record
    assert second.seq == 2 and second.prev == record_hash(in_proc.records[0])


def test_refusals_cross_the_process_boundary() -> None:
    sources = _sources(2)
    forged = sources[2]._replace(fields={**sources[2].fields, "reason": "nul\x00"})
    built, state = _build([*sources[:2], forged, *sources[3:]], {}, True)
    assert len(built.records) == 2 and isinstance(built.refused, InadmissibleEvent)
    assert "U+0000" in str(built.refused) and state.tree_size == 2
    with pytest.raises(ChainBroken, match="expects seq 1"):
        _build(sources[1:], {}, True)


def test_a_small_batch_is_built_in_the_relays_process_and_signs_the_same_bytes() -> None:
    sources = _sources(5)
    builder = RecordBuilder(ORIGIN)  # the relay's default: 10 events is below SPLIT_FROM
    try:
        inline, inline_state = asyncio.run(builder.build(sources, {}, RelayState(), SIGNER))
        assert builder._pool is None  # no worker was started for it
    finally:
        builder.close()
    in_proc, proc_state = _build(sources, {}, True)
    assert inline.records == in_proc.records and inline.heads == in_proc.heads
    assert inline_state.frontier.root() == proc_state.frontier.root()


def test_the_callers_state_is_not_changed() -> None:
    state = RelayState()
    builder = RecordBuilder(ORIGIN, in_process=False)
    try:
        _, new = asyncio.run(builder.build(_sources(1), {}, state, SIGNER))
    finally:
        builder.close()
    assert state.tree_size == 0 and new.tree_size == 2


def _build_with(sources: list[EventSource], workers: int):  # type: ignore[no-untyped-def]
    builder = RecordBuilder(ORIGIN, in_process=True, workers=workers, inline_below=0)
    try:
        return asyncio.run(builder.build(sources, {}, RelayState(), SIGNER))
    finally:
        builder.close()


def test_two_workers_split_by_certificate_and_sign_exactly_what_one_build_signs() -> None:
    sources = _sources(40)  # 80 events: an issue and a suspension per certificate
    parts = split(sources, 2)
    assert len(parts) == 2 and sum(map(len, parts)) == 80
    for items in parts:  # a certificate's chain never crosses parts
        numbers = {s.fields["certificate"]["number"] for _, s in items}
        assert all(s.fields["certificate"]["number"] in numbers for _, s in items)
        assert not numbers & {
            s.fields["certificate"]["number"] for other in parts if other is not items for _, s in other
        }
    (two, two_state), (one, one_state) = _build_with(sources, 2), _build_with(sources, 1)
    assert two.records == one.records and len(two.records) == 80
    assert two.events == one.events and two.heads == one.heads and two.traces == one.traces
    assert two_state.frontier.root() == one_state.frontier.root() and two_state.tree_size == 80


def _other_part_pair(sources: list[EventSource]) -> tuple[int, int]:
    """Two certificates (by their issue event's position) that land in different parts."""
    part_of = {
        s.fields["certificate"]["number"]: k for k, items in enumerate(split(sources, 2)) for _, s in items
    }
    first = 20
    number = sources[first].fields["certificate"]["number"]
    second = next(
        p
        for p in range(first + 10, len(sources), 2)
        if part_of[sources[p].fields["certificate"]["number"]] != part_of[number]
    )
    return first, second


def test_with_two_workers_the_first_refusal_or_broken_chain_in_log_order_ends_the_batch() -> None:
    sources = _sources(40)
    refuse_at, break_at = _other_part_pair(sources)
    forged = sources[refuse_at]._replace(fields={**sources[refuse_at].fields, "reason": "nul\x00"})
    # the issue event at break_at is missing: the suspension after it breaks its chain
    batch = [*sources[:refuse_at], forged, *sources[refuse_at + 1 : break_at], *sources[break_at + 1 :]]
    built, state = _build_with(batch, 2)
    assert isinstance(built.refused, InadmissibleEvent) and len(built.records) == refuse_at
    assert built.records == _build_with(batch, 1)[0].records and state.tree_size == refuse_at
    # the other way round: the broken chain comes first, and raises whatever the later part holds
    batch = [*sources[:refuse_at], *sources[refuse_at + 1 : break_at], forged, *sources[break_at:]]
    with pytest.raises(ChainBroken, match="expects seq 1"):
        _build_with(batch, 2)


def test_each_record_comes_with_its_public_event_and_chain_head_across_processes() -> None:
    """Two workers build the records; the public events (key, CloudEvents headers, body) and the
    chain heads are assembled in the relay's process from the parts' columns."""
    sources = _sources(40)
    traced = [s._replace(traceparent=b"00-" + b"ab" * 16 + b"-" + b"cd" * 8 + b"-01") for s in sources]
    built, state = _build_with(traced, 2)
    assert len(built.records) == len(built.events) == len(built.traces) == 80 and state.tree_size == 80
    for index, (source, record_bytes, (key, value, headers)) in enumerate(
        zip(traced, built.records, built.events, strict=True)
    ):
        record = parse_record(record_bytes)
        assert record.index == index and record.seq == source.version
        number = source.fields["certificate"]["number"]
        assert key == number.encode()
        assert json.loads(value) == {
            "certificateId": source.certificate_id, "version": source.version, "index": index, **source.fields,
        }  # fmt: skip
        assert dict(headers) == {
            "ce_specversion": b"1.0", "ce_id": f"{ORIGIN}/{index}".encode(), "ce_source": ORIGIN.encode(),
            "ce_type": f"org.certlife.certificate.{record.event}.v1".encode(), "ce_subject": number.encode(),
            "ce_time": record.data["recordedAt"].encode(), "content-type": b"application/json",
            "traceparent": source.traceparent,
        }  # fmt: skip
    last = {parse_record(r).number: (i, r) for i, r in enumerate(built.records)}
    assert built.heads == {n: Head(2, record_hash(r), i) for n, (i, r) in last.items()}
