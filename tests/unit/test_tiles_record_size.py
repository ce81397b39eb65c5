"""Every record the log can sign must fit a tlog-tiles entry (65,535 bytes): "never sign what a consumer cannot read".

Admission bounds a *command* at 64 KiB; the record it yields can be larger (record
overhead, NFC expansion, amendments adding up). The domain refuses, with
``record-too-large`` and nothing stored, an issue or amendment after which some
record of the certificate (any later event, the longest reason) could exceed
``MAX_SIGNED_RECORD_BYTES``; what it accepts always fits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.commands import MAX_COMMAND_BYTES, Accepted, parse_command
from certlife.contracts.records import RecordSigner, build_certificate_record
from certlife.contracts.tiles import MAX_ENTRY_BYTES
from certlife.domain.values import LifecyclePolicy
from certlife.services.commands.application import CertificateApplication

pytestmark = pytest.mark.unit

T0 = datetime(2030, 1, 10, 9, tzinfo=UTC)
ISSUE = {
    "type": "issue", "commandId": "c", "issuer": "cb-1", "number": "N-1", "scheme": "CB", "holder": "H",
    "manufacturer": "M", "factories": ["F"], "product": "P", "models": ["m"], "standards": ["S"], "scope": "s",
    "validFrom": "2030-01-10T09:00:00Z", "validUntil": "2031-01-10T09:00:00Z",
}  # fmt: skip
SIGNER = RecordSigner(Ed25519PrivateKey.from_private_bytes(bytes(32)))


@pytest.fixture
def app() -> Iterator[CertificateApplication]:
    policy = LifecyclePolicy(max_backdating=timedelta(days=30), renewal_grace=timedelta(days=60))
    application = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, policy=policy)
    yield application
    application.close()


def largest(command: dict[str, Any], member: str, item: str) -> bytes:
    """``command`` with as many distinct ``item`` strings in ``member`` as fit MAX_COMMAND_BYTES."""
    count, best = 1, b""
    while count <= 1000:
        cmd = {**command, member: [f"{i:04d}{item}" for i in range(count)]}
        raw = json.dumps(cmd, ensure_ascii=False, separators=(",", ":")).encode()
        if len(raw) > MAX_COMMAND_BYTES:
            break
        best, count = raw, count + 1
    return best


def submit(app: CertificateApplication, raw: bytes) -> bool:
    assert len(raw) <= MAX_COMMAND_BYTES
    outcome = app.handle(parse_command(raw), T0)
    if not isinstance(outcome, Accepted):
        assert outcome.code == "record-too-large", outcome
        return False
    return True


def last_record(app: CertificateApplication, number: str) -> bytes:
    history = list(app.history(number, "cb-1"))
    fields = history[-1].record_fields()
    return build_certificate_record(
        origin="certlife.example/log", index=10**9, certificate=fields["certificate"], event=fields["event"],
        status=fields["status"], seq=len(history), prev=None if len(history) == 1 else "0" * 64,
        reason=fields["reason"], effective_at=fields["effectiveAt"], recorded_at=fields["recordedAt"], signer=SIGNER,
    )  # fmt: skip


def test_one_ascii_issue_command_yields_a_record_that_fits(app: CertificateApplication) -> None:
    raw = largest(ISSUE, "models", "x" * 1020)
    cmd = json.loads(raw)  # one more, shorter item: exactly MAX_COMMAND_BYTES
    cmd["models"].append("y" * (MAX_COMMAND_BYTES - len(raw) - 3))
    raw = json.dumps(cmd, separators=(",", ":")).encode()
    if submit(app, raw):  # 65,536-byte command -> 65,838-byte record today
        assert len(last_record(app, "N-1")) <= MAX_ENTRY_BYTES


def test_nfc_expansion_yields_a_record_that_fits(app: CertificateApplication) -> None:
    # U+1D160 is 4 bytes; its NFC form is three code points of 4 bytes each.
    if submit(app, largest(ISSUE, "models", "\U0001d160" * 340)):  # ~64 KB -> ~190 KB today
        assert len(last_record(app, "N-1")) <= MAX_ENTRY_BYTES


def test_amendments_adding_up_are_refused_once_the_record_would_not_fit(app: CertificateApplication) -> None:
    amend = {"type": "amend", "issuer": "cb-1", "number": "N-1"}
    items = [f"{i:04d}" + "f" * 1000 for i in range(20)]  # about 20 KB per list
    assert submit(app, json.dumps({**ISSUE, "factories": items}).encode())
    assert submit(app, json.dumps({**amend, "commandId": "a", "models": items}).encode())
    # A third 20 KB list would take the certificate past the limit: refused, state unchanged.
    assert not submit(
        app,
        json.dumps({**amend, "commandId": "b", "standards": items + [i + "s" for i in items[:6]]}).encode(),
    )
    assert len(app.history("N-1", "cb-1")) == 2
    assert len(last_record(app, "N-1")) <= MAX_ENTRY_BYTES


def test_refused_commands_store_nothing_and_accepted_ones_leave_room_for_any_later_record(
    app: CertificateApplication,
) -> None:
    # Too large: refused with record-too-large, and the certificate does not exist afterwards.
    assert not submit(app, largest(ISSUE, "models", "\U0001d160" * 340))
    with pytest.raises(Exception, match="N-1"):
        app.get_certificate("N-1", "cb-1")
    # Just under the limit (minus the room for the longest reason): accepted; the revocation
    # with a 1,024-character reason of 4-byte characters still yields a record that fits.
    for count in range(60, 0, -1):
        models = [f"{i:03d}" + "x" * 1000 for i in range(count)]
        if submit(app, json.dumps({**ISSUE, "commandId": f"c{count}", "models": models}).encode()):
            break
    else:
        pytest.fail("no issue command was accepted")
    revoke = {
        "type": "revoke",
        "commandId": "r",
        "issuer": "cb-1",
        "number": "N-1",
        "reason": "\U0001f600" * 1024,
    }
    assert isinstance(app.handle(parse_command(json.dumps(revoke).encode()), T0), Accepted)
    size = len(last_record(app, "N-1"))
    assert MAX_ENTRY_BYTES - 2000 < size <= MAX_ENTRY_BYTES
