"""``process_batch`` against the in-memory application (eventsourcing.popo)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from certlife.contracts.commands import MAX_COMMAND_BYTES, CommandError, Rejected, parse_command
from certlife.domain.certificate import Certificate
from certlife.services.commands import batch as batch_module
from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.batch import COMMAND_ID_HEADER, Inbound, decide_batch, process_batch
from certlife.services.demo.scenario import generate_commands
from certlife.services.infra.transactions import Outbound

pytestmark = pytest.mark.unit

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
ISSUER = "cqc.example"
RESULTS, DLQ = "results", "dlq"


@pytest.fixture
def app() -> Iterator[CertificateApplication]:
    application = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield application
    application.close()


def _issue(cid: str, number: str) -> dict[str, Any]:
    return {
        "type": "issue",
        "commandId": cid,
        "issuer": ISSUER,
        "number": number,
        "scheme": "CCC",
        "holder": "Shenzhen Voltara New Energy Co., Ltd.",
        "manufacturer": "Shenzhen Voltara New Energy Co., Ltd.",
        "factories": ["Huizhou plant"],
        "product": "DC electric vehicle charging station",
        "models": ["DCFC-120K"],
        "standards": ["GB/T 18487.1-2023"],
        "scope": "Conductive DC charging, 120 kW",
        "validFrom": "2030-01-01T00:00:00Z",
        "validUntil": "2035-01-01T00:00:00Z",
    }


def _cmd(kind: str, cid: str, number: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "commandId": cid, "issuer": ISSUER, "number": number, **extra}


def _batch(values: list[bytes | dict[str, Any]]) -> list[Inbound]:
    out = []
    for offset, v in enumerate(values):
        raw = v if isinstance(v, bytes) else json.dumps(v).encode()
        out.append(Inbound("commands", 0, 100 + offset, b"k", raw))
    return out


def _run(app: CertificateApplication, batch: list[Inbound]) -> tuple[list[Outbound], list[Outbound]]:
    out = process_batch(app, batch, NOW, results_topic=RESULTS, dead_letter_topic=DLQ)
    return [m for m in out if m.topic == RESULTS], [m for m in out if m.topic == DLQ]


def _body(m: Outbound) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(m.value)
    return body


def test_outcomes_in_input_order_with_dead_letters_after(app: CertificateApplication) -> None:
    batch = _batch(
        [
            _issue("c1", "N-1"),
            b"{not json",
            _cmd("suspend", "c2", "N-1", reason="audit failed"),
            {"type": "cancel", "commandId": "c3"},
            _cmd("reinstate", "c4", "N-1"),
            _cmd("suspend", "c5", "N-1"),  # schema-invalid: no reason, id readable
            _cmd("revoke", "c6", "N-1", reason="fraud"),
            _cmd("revoke", "c7", "N-1", reason="fraud again"),
        ]
    )
    out = process_batch(app, batch, NOW, results_topic=RESULTS, dead_letter_topic=DLQ)
    results = [m for m in out if m.topic == RESULTS]
    # every dead letter comes after every outcome in the published order
    assert [m.topic for m in out] == [RESULTS] * 7 + [DLQ] * 3
    bodies = [_body(m) for m in results]
    assert [b["commandId"] for b in bodies] == ["c1", "c2", "c3", "c4", "c5", "c6", "c7"]
    assert [b.get("event") or b["code"] for b in bodies] == [
        "issued",
        "suspended",
        "unknown-type",
        "reinstated",
        "schema-invalid",
        "revoked",
        "invalid-transition",
    ]
    assert [b.get("version") for b in bodies if b["status"] == "accepted"] == [1, 2, 3, 4]
    assert all(m.key == m.headers[0][1] == _body(m)["commandId"].encode() for m in results)
    assert [e.command_id for e in app.history("N-1", ISSUER)] == ["c1", "c2", "c4", "c6"]


def test_dead_letters_carry_the_raw_message_and_the_reason(app: CertificateApplication) -> None:
    oversized = json.dumps({**_cmd("amend", "big", "N-9"), "scope": "x" * MAX_COMMAND_BYTES}).encode()
    batch = _batch([b"\xff\xfe", b"[1]", oversized])
    results, dead = _run(app, batch)
    assert [_body(m)["commandId"] for m in results] == ["big"]
    assert _body(results[0])["code"] == "oversized"
    assert [m.value for m in dead] == [b"\xff\xfe", b"[1]", oversized]
    reasons = [json.loads(dict(m.headers)["certlife-dlq-reason"]) for m in dead]
    assert [r["code"] for r in reasons] == ["malformed-json", "schema-invalid", "oversized"]
    assert [r["commandId"] for r in reasons] == [None, None, "big"]
    assert [r["source"]["offset"] for r in reasons] == [100, 101, 102]
    assert COMMAND_ID_HEADER not in dict(dead[0].headers)
    assert dict(dead[2].headers)[COMMAND_ID_HEADER] == b"big"


def test_duplicates_in_one_batch_and_across_batches(app: CertificateApplication) -> None:
    first = _batch([_issue("c1", "N-1"), _cmd("suspend", "c2", "N-1", reason="audit"), _issue("c1", "N-1")])
    results, dead = _run(app, first)
    assert not dead
    assert [m.value for m in results][2] == results[0].value  # in-batch re-send: the original outcome
    position = app.recorder.max_notification_id()
    again, _ = _run(app, first)  # the whole batch redelivered (e.g. after a crash)
    assert [m.value for m in again] == [m.value for m in results]
    assert app.recorder.max_notification_id() == position  # nothing written the second time
    assert app.get_certificate("N-1", ISSUER).version == 2


def test_a_batch_of_only_malformed_messages_writes_nothing(app: CertificateApplication) -> None:
    results, dead = _run(app, _batch([b"", b"null"]))
    assert results == []
    assert len(dead) == 2
    assert app.recorder.max_notification_id() in (None, 0)


def test_scenario_traffic_yields_one_outcome_per_readable_message(app: CertificateApplication) -> None:
    messages = generate_commands(
        60, seed=3, issuer=ISSUER, now=NOW, duplicates=0.3, conflicts=0.3, malformed=0.3
    )
    batch = [Inbound("commands", 0, i, k, v) for i, (k, v) in enumerate(messages)]
    readable: list[str] = []
    unreadable = 0
    for _, value in messages:
        try:
            readable.append(parse_command(value).command_id)
        except CommandError as e:
            if e.command_id:
                readable.append(e.command_id)
            unreadable += 1
    results, dead = _run(app, batch[:150])
    more_results, more_dead = _run(app, batch[150:])
    results += more_results
    dead += more_dead
    assert [_body(m)["commandId"] for m in results] == readable
    assert len(dead) == unreadable > 0
    by_id: dict[str, set[bytes]] = {}
    for m in results:
        by_id.setdefault(_body(m)["commandId"], set()).add(m.value)
    assert all(len(v) == 1 for v in by_id.values()), "a re-sent command got a different outcome"
    statuses = Counter(_body(m)["status"] for m in results)
    assert statuses["rejected"] > 0 and statuses["accepted"] > 0
    # the event store holds an event exactly for each accepted certificate command
    accepted = {b["commandId"]: b for b in map(_body, results) if b["status"] == "accepted" and b["number"]}
    stored = {
        e.command_id: e.originator_version
        for number in {b["number"] for b in accepted.values()}
        for e in app.history(number, ISSUER)
        if isinstance(e, Certificate.Event)
    }
    assert stored == {cid: b["version"] for cid, b in accepted.items()}


def test_outcome_bodies_are_compact_unescaped_json(app: CertificateApplication) -> None:
    values: list[bytes | dict[str, Any]] = [
        _issue("c-1", "CCC-2030-0001"),
        _cmd("revoke", "c-2", "CCC-2030-0001", reason='Prüfbericht zurückgezogen 撤销 \u2028 "quoted" \\ \t'),
        _cmd("suspend", "c-3", "CCC-2030-0001", reason="after revocation: rejected"),
        _cmd("withdraw", "c-4", "CCC-2030-0001", reason="auf Wunsch des Inhabers 注销"),
    ]
    out = process_batch(app, _batch(values), NOW, results_topic=RESULTS, dead_letter_topic=DLQ)
    assert [m.key for m in out if m.topic == RESULTS] == [b"c-1", b"c-2", b"c-3", b"c-4"]
    for message in (m for m in out if m.topic == RESULTS):
        decoded = json.loads(message.value)
        assert message.value == json.dumps(decoded, ensure_ascii=False, separators=(",", ":")).encode()


def test_a_batch_that_fails_after_it_was_decided_leaves_nothing_decided_behind(
    app: CertificateApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Outbound:
        raise RuntimeError("building an outcome message failed")

    with monkeypatch.context() as patched:
        patched.setattr(batch_module, "_outcome_message", broken)
        with pytest.raises(RuntimeError):
            decide_batch(app, _batch([_issue("c-1", "N-1")]), NOW, results_topic="r", dead_letter_topic="d")
    # Decided, never stored: the next batch must not build on it.
    again = decide_batch(
        app,
        _batch([_cmd("suspend", "c-2", "N-1", reason="audit")]),
        NOW,
        results_topic="r",
        dead_letter_topic="d",
    )
    assert [o.code for o in again.decided.outcomes if isinstance(o, Rejected)] == ["certificate-not-found"]
    app.commit(again.decided)
    retried = decide_batch(app, _batch([_issue("c-1", "N-1")]), NOW, results_topic="r", dead_letter_topic="d")
    assert [o.status for o in retried.decided.outcomes] == ["accepted"]
