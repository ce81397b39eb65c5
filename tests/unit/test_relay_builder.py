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
from certlife.services.relay.builder import RecordBuilder
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
    builder = RecordBuilder(ORIGIN, in_process=in_process)
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


def test_the_callers_state_is_not_changed() -> None:
    state = RelayState()
    builder = RecordBuilder(ORIGIN, in_process=False)
    try:
        _, new = asyncio.run(builder.build(_sources(1), {}, state, SIGNER))
    finally:
        builder.close()
    assert state.tree_size == 0 and new.tree_size == 2
