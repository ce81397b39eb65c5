"""The admission rule (``certlife.contracts.admission``) and the property that closes poison input.

For arbitrary Unicode (controls, NUL, lone surrogates, bidi controls, noncharacters,
combining marks, confusables, huge strings) in every field of every command: either
the command is rejected with an outcome, or the record it becomes is accepted by the
relay's builder, the record parser, certverify's record check and the projections'
mapping, and can be stored as PostgreSQL text. Never a crash or an outcome-less command.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from certlife.contracts.admission import (
    _FORBIDDEN,
    AdmissionError,
    admit_command_object,
    check_number,
    check_text,
    command_id_of,
    record_content_problem,
)
from certlife.contracts.commands import CommandError, parse_command
from certlife.contracts.records import RecordSigner, build_certificate_record, parse_record
from certlife.contracts.trust import TrustedKey, TrustFile
from certlife.contracts.verification.record import verify_record
from certlife.domain.certificate import Certificate
from certlife.projections.mapping import current_row, history_row
from certlife.services.commands.application import CertificateApplication
from certlife.services.commands.batch import COMMAND_ID_HEADER, Inbound, process_batch
from certlife.services.relay.records import EventSource, InadmissibleEvent, build_records
from certlife.services.relay.state import RelayState

pytestmark = pytest.mark.unit

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
ISSUER = "cqc.example"
ORIGIN = "certlife.example/log"
SIGNER = RecordSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
TRUST = TrustFile(ORIGIN, (TrustedKey(key_id=SIGNER.key_id, public_raw=SIGNER.public_raw),), ())


def _issue(cid: str = "c-1", number: str = "CQC-0001", **over: Any) -> dict[str, Any]:
    return {
        "type": "issue",
        "commandId": cid,
        "issuer": ISSUER,
        "number": number,
        "scheme": "CQC",
        "holder": "Voltara GmbH",
        "manufacturer": "Voltara GmbH",
        "factories": ["Plant 1"],
        "product": "EV charger",
        "models": ["DC-120"],
        "standards": ["IEC 61851-1"],
        "scope": "DC charging",
        "validFrom": "2030-01-01T00:00:00Z",
        "validUntil": "2035-01-01T00:00:00Z",
        **over,
    }


# -- the rule itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["a\x00b", "\x1b[31mred", "line\nbreak", "tab\there", "del\x7f", "c1\x85", "\u202eevil", "x\u2066",
     "\ud800lone", "non\ufffe", "non\U0010ffff", "\ufdd0", "   ", ""],
)  # fmt: skip
def test_inadmissible_text_is_refused_with_the_member_named(text: str) -> None:
    with pytest.raises(AdmissionError) as err:
        check_text("holder", text)
    assert err.value.member == "holder"
    assert err.value.code in {"inadmissible-text", "text-blank"}


def test_text_is_normalised_to_nfc_and_records_must_already_be() -> None:
    nfd = "Mu\u0308ller"  # Müller, decomposed
    obj = admit_command_object(_issue(holder=nfd))
    assert obj["holder"] == "M\u00fcller" and unicodedata.is_normalized("NFC", obj["holder"])
    with pytest.raises(AdmissionError) as err:
        check_text("certificate.holder", nfd)
    assert err.value.code == "text-not-nfc"


def test_no_printable_character_is_forbidden() -> None:
    """check_text skips the forbidden-character scan of printable text: none of its characters may be forbidden."""
    printable_forbidden = [c for c in map(chr, range(0x110000)) if c.isprintable() and _FORBIDDEN.match(c)]
    assert printable_forbidden == []


@pytest.mark.parametrize("char", ["\u00a0", "\u3000", "\u00e9", "\U0001f600"])
def test_admissible_characters_that_are_not_printable_ascii_still_pass(char: str) -> None:
    check_text("holder", f"A{char}B")


def test_length_limits() -> None:
    check_text("scope", "x" * 1024)
    with pytest.raises(AdmissionError) as err:
        check_text("scope", "x" * 1025)
    assert err.value.code == "text-too-long"


@pytest.mark.parametrize(
    "number",
    ["2025010701000001", "CQC25-0000001", "E4 117R-02 0001234", "e1*2007/46*0001", "N", "a.b_c:d+e#f"],
)
def test_numbers_of_the_ascii_profile(number: str) -> None:
    check_number(number)


@pytest.mark.parametrize(
    "number",
    ["\u0421\u0421\u0421-1",  # Cyrillic look-alike of CCC-1
     "A\u0308-1", "\u00c4-1", "-lead", "trail-", "two  spaces", " x", "x\x00", "A" * 129, "", "x\ty"],
)  # fmt: skip
def test_numbers_outside_the_profile_are_refused(number: str) -> None:
    with pytest.raises(AdmissionError) as err:
        check_number(number)
    assert err.value.code == "number-invalid"


def test_cyrillic_and_latin_numbers_cannot_both_exist() -> None:
    parse_command(json.dumps(_issue(number="CCC-1")).encode())
    with pytest.raises(CommandError) as err:
        parse_command(json.dumps(_issue(number="\u0421\u0421\u0421-1")).encode())
    assert err.value.code == "number-invalid" and err.value.command_id == "c-1"


def test_member_names_are_admitted_too() -> None:
    with pytest.raises(AdmissionError):
        admit_command_object({"type": "issue", "x\x00": 1})


def test_command_id_of_refuses_inadmissible_ids() -> None:
    assert command_id_of({"commandId": "ok-1"}) == "ok-1"
    assert command_id_of({"commandId": "bad\x00"}) is None
    assert command_id_of({"commandId": "x" * 129}) is None
    assert command_id_of(["commandId"]) is None


def test_record_content_problem_flags_a_validly_built_shape() -> None:
    cert = {"number": "N-1", "holder": "a\x00b", "scheme": "CCC", "factories": ["f"]}
    problem = record_content_problem({"certificate": cert, "reason": None})
    assert problem is not None and problem.member == "certificate.holder"
    assert record_content_problem({"certificate": {**cert, "holder": "ok"}, "reason": "\x1b"}) is not None
    assert record_content_problem({"certificate": {**cert, "holder": "ok"}, "reason": "fine"}) is None


def test_the_record_builder_refuses_to_sign_inadmissible_content() -> None:
    with pytest.raises(AdmissionError):
        build_certificate_record(
            origin=ORIGIN, index=0, certificate={**_cert_fields(), "holder": "nul\x00"}, event="issued",
            status="valid", seq=1, prev=None, reason=None, effective_at="2030-01-01T00:00:00Z",
            recorded_at="2030-01-01T00:00:00Z", signer=SIGNER,
        )  # fmt: skip


def _cert_fields() -> dict[str, Any]:
    c = _issue()
    return {
        "number": c["number"], "scheme": c["scheme"], "holder": c["holder"],
        "manufacturer": c["manufacturer"], "factories": c["factories"], "product": c["product"],
        "models": c["models"], "standards": c["standards"], "scope": c["scope"],
        "validFrom": c["validFrom"], "validUntil": c["validUntil"],
    }  # fmt: skip


def test_relay_refuses_an_inadmissible_stored_event_instead_of_publishing() -> None:
    """An event stored before the rule existed (here: forged past it) stops the relay with a reason."""
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        outcome = app.handle(parse_command(json.dumps(_issue()).encode()), NOW)
        assert outcome.status == "accepted"
        event = app.history("CQC-0001", ISSUER)[0]
        object.__setattr__(event, "certificate", {**event.certificate, "holder": "nul\x00"})
        built = build_records([EventSource.of(event)], {}, RelayState(), SIGNER, ORIGIN)
        assert built.records == [] and isinstance(built.refused, InadmissibleEvent)
        assert "CQC-0001" in str(built.refused) and "U+0000" in str(built.refused)
    finally:
        app.close()


# -- identity and idempotency ----------------------------------------------------------------


def test_a_second_issuer_cannot_reuse_a_number_of_this_log() -> None:
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "CERTLIFE_ISSUER": ISSUER})
    try:
        first = app.handle(parse_command(json.dumps(_issue()).encode()), NOW)
        other = app.handle(parse_command(json.dumps(_issue("c-2", issuer="other.example")).encode()), NOW)
        assert first.status == "accepted"
        assert other.status == "rejected" and other.code == "unknown-issuer"  # type: ignore[union-attr]
        assert len(app.history("CQC-0001", ISSUER)) == 1
    finally:
        app.close()


def test_a_reused_command_id_with_other_content_is_a_conflict_naming_the_original() -> None:
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        first = app.handle(parse_command(json.dumps(_issue("same", "A-1")).encode()), NOW)
        again = app.handle(parse_command(json.dumps(_issue("same", "A-1")).encode()), NOW)
        reordered = dict(reversed(list(_issue("same", "A-1").items())))
        again2 = app.handle(parse_command(json.dumps(reordered).encode()), NOW)
        other = app.handle(parse_command(json.dumps(_issue("same", "B-1")).encode()), NOW)
        assert first.status == "accepted" and again == first and again2 == first
        assert other.status == "rejected" and other.code == "command-id-conflict"  # type: ignore[union-attr]
        assert "A-1" in other.message and "accepted" in other.message  # type: ignore[union-attr]
        with pytest.raises(Exception, match="does not exist"):
            app.get_certificate("B-1", ISSUER)
    finally:
        app.close()


# -- outcomes whenever the commandId can be read ----------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":"issue","commandId":"cid-9","holder":"\xff\xfe"}',  # invalid UTF-8 elsewhere
        b'{"type":"issue","commandId":"cid-9","holder":"a","holder":"b"}',  # duplicate member
        b'{"type":"issue","commandId":"cid-9","holder":"raw\x00nul"}',  # a raw NUL in a string
        b'{"type":"issue","commandId":"cid-9","holder":"\\u0000"}',  # an escaped NUL
        b'{"type":"issue","commandId":"cid-9","number":"\\u0421CC-1"}',  # confusable number
    ],
)
def test_unusable_message_with_a_readable_command_id_gets_an_outcome(raw: bytes) -> None:
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        out = process_batch(
            app, [Inbound("c", 0, 7, b"k", raw)], NOW, results_topic="r", dead_letter_topic="d"
        )
    finally:
        app.close()
    outcomes = [o for o in out if o.topic == "r"]
    assert len(outcomes) == 1
    body = json.loads(outcomes[0].value)
    assert body["commandId"] == "cid-9" and body["status"] == "rejected"
    dead = [o for o in out if o.topic == "d"]
    if dead:  # the dead letter keeps the raw bytes and names the command
        assert dead[0].value == raw
        assert (COMMAND_ID_HEADER, b"cid-9") in dead[0].headers


def test_two_different_command_ids_in_one_broken_message_are_not_guessed() -> None:
    raw = b'{"commandId":"a","commandId":"b","x":"\xff"}'
    with pytest.raises(CommandError) as err:
        parse_command(raw)
    assert err.value.command_id is None


# -- the property -------------------------------------------------------------------------------

_NASTY = st.sampled_from(
    ["\x00", "\x1b[2J", "\r", "\n", "\x85", "\u202e", "\u2066", "\ud800", "\udfff", "\ufffe", "\U0010ffff",
     "\u0308", "A\u030a", "\u0421", "\u0430", "\u00c5", "\ufeff", "\u200b", "\t", " ", "x" * 2000]
)  # fmt: skip
_TEXT = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.lists(st.one_of(_NASTY, st.text(max_size=5)), max_size=6).map("".join),
)
_FIELDS = ["commandId", "number", "scheme", "holder", "manufacturer", "product", "scope", "issuer"]
_LIST_FIELDS = ["factories", "models", "standards"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(_FIELDS + _LIST_FIELDS), value=_TEXT, ensure_ascii=st.booleans())
def test_any_text_in_any_field_is_rejected_or_readable_by_every_consumer(
    field: str, value: str, ensure_ascii: bool
) -> None:
    command = _issue(cid="prop-1", number="P-1")
    command[field] = [value] if field in _LIST_FIELDS else value
    try:
        raw = json.dumps(command, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    except UnicodeEncodeError:  # pragma: no cover - surrogatepass encodes everything
        return
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "CERTLIFE_ISSUER": ISSUER})
    try:
        out = process_batch(
            app, [Inbound("c", 0, 1, b"k", raw)], NOW, results_topic="r", dead_letter_topic="d"
        )
        outcomes = [json.loads(o.value) for o in out if o.topic == "r"]
        readable = command_id_of(command)
        if readable is not None:
            assert len(outcomes) == 1, "a readable commandId must get exactly one outcome"
        if not outcomes or outcomes[0]["status"] != "accepted":
            return
        # Accepted: the record it becomes is readable by the relay, certverify and the projections.
        events = app.history(outcomes[0]["number"], ISSUER)
        built = build_records([EventSource.of(e) for e in events], {}, RelayState(), SIGNER, ORIGIN)
    finally:
        app.close()
    (record_bytes,) = built.records
    text = record_bytes.decode("utf-8")  # valid UTF-8: PostgreSQL text accepts it ...
    assert "\x00" not in text and "\\u0000" not in text  # ... and it holds no NUL
    record = parse_record(record_bytes)
    assert record_content_problem(record.data) is None
    verify_record(record_bytes, TRUST)
    row = current_row(record, ISSUER, None)
    assert row.certificate_id == Certificate.create_id(ISSUER, row.number)
    history_row(record, ISSUER)
    cert = record.data["certificate"]
    for item in [v for v in cert.values() if isinstance(v, str)] + [x for k in _LIST_FIELDS for x in cert[k]]:
        assert not any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in item)
        assert unicodedata.is_normalized("NFC", item)


@settings(max_examples=500, deadline=None)
@given(value=st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=30))
def test_the_ascii_fast_path_agrees_with_the_full_rule(value: str) -> None:
    """check_text skips the character scan for printable ASCII: it must refuse exactly what the scan does."""
    from certlife.contracts import admission

    scan_refuses = admission._FORBIDDEN.search(value) is not None
    try:
        check_text("m", value, max_length=1 << 20, normalised=False)
        refused = None
    except AdmissionError as exc:
        refused = exc.code
    if scan_refuses:
        assert refused == "inadmissible-text"
    else:
        assert refused in (None, "text-blank")


def test_nesting_deep_enough_for_json_but_not_for_the_walk_is_a_rejection_not_a_crash() -> None:
    raw = b'{"type":"issue","commandId":"deep-1","models":' + b"[" * 900 + b"]" * 900 + b"}"
    with pytest.raises(CommandError) as err:
        parse_command(raw)
    assert (err.value.code, err.value.command_id) == ("malformed-json", "deep-1")


def test_a_parse_rejection_uses_its_command_id() -> None:
    """A readable commandId of a broken message is used: a later, different command with it conflicts,
    an identical re-send gets the same rejection, and each message gets exactly one outcome."""
    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    broken = b'{"type":"issue","commandId":"reuse-1","holder":"\xff"}'
    try:
        first = process_batch(
            app, [Inbound("c", 0, 1, b"k", broken)], NOW, results_topic="r", dead_letter_topic="d"
        )
        again = process_batch(
            app, [Inbound("c", 0, 2, b"k", broken)], NOW, results_topic="r", dead_letter_topic="d"
        )
        valid = json.dumps(_issue("reuse-1", "R-1")).encode()
        later = process_batch(
            app, [Inbound("c", 0, 3, b"k", valid)], NOW, results_topic="r", dead_letter_topic="d"
        )
        # and the other way round: an accepted command, then a broken message with its id
        ok = process_batch(
            app, [Inbound("c", 0, 4, b"k", json.dumps(_issue("ok-1", "R-2")).encode())], NOW,
            results_topic="r", dead_letter_topic="d",
        )  # fmt: skip
        bad = b'{"type":"issue","commandId":"ok-1","number":"R-2","holder":"\xff"}'
        late = process_batch(
            app, [Inbound("c", 0, 5, b"k", bad)], NOW, results_topic="r", dead_letter_topic="d"
        )
    finally:
        app.close()

    def outcome(out: list[Any]) -> dict[str, Any]:
        (body,) = [json.loads(o.value) for o in out if o.topic == "r"]
        return body

    assert outcome(first)["code"] == "malformed-json" and outcome(again) == outcome(first)
    assert outcome(later)["code"] == "command-id-conflict" and "malformed-json" in outcome(later)["message"]
    assert outcome(ok)["status"] == "accepted"
    assert outcome(late)["code"] == "command-id-conflict" and "R-2" in outcome(late)["message"]
    assert [o.topic for o in late] == ["r", "d"]  # the broken message is still dead-lettered


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x2100), max_size=40), st.integers(0, 30))
def test_text_admitted_on_sight_is_text_check_text_admits(value: str, limit: int) -> None:
    """The certificate check's shortcut never admits what the full rule refuses."""
    from certlife.contracts.admission import _plainly_admissible

    if _plainly_admissible(value, limit):
        check_text("m", value, max_length=limit)
    assert _plainly_admissible("Hefei plant 1", 13) and not _plainly_admissible("Hefei plant 1", 12)
    assert not _plainly_admissible("   ", 10) and not _plainly_admissible("", 10)
    assert not _plainly_admissible("tab\there", 10) and not _plainly_admissible("Müller", 10)


def _admitted_member_by_member(value: Any, path: str = "") -> Any:
    """The walk's rule spelled out: every string through admit_text with its path, numbers checked."""
    from certlife.contracts.admission import MAX_NAME, admit_text

    if isinstance(value, str):
        text = admit_text(path or "(root)", value, max_length=1 << 30)
        if path.rsplit(".", 1)[-1] == "number":
            check_number(text, path)
        return text
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = admit_text(f"{path or '(root)'} member name", key, max_length=MAX_NAME)
            out[name] = _admitted_member_by_member(item, f"{path}.{name}" if path else name)
        return out
    if isinstance(value, list):
        return [_admitted_member_by_member(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


_walk_text = st.sampled_from(["number", "a.number", "x", "", " ", "N-1", "N--", "\x00", "e\u0301"]) | st.text(
    max_size=6
)
_walk_values = st.recursive(
    _walk_text | st.integers() | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_walk_text, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(obj=st.dictionaries(_walk_text, _walk_values, max_size=4))
@example(obj={"a.number": "N--", "models": ["N--", {"number": "N-1 "}]})
def test_the_walk_admits_exactly_what_the_member_by_member_rule_does(obj: dict[str, Any]) -> None:
    """admit_command_object takes plain members on sight: same result, or the same refusal, as the rule."""

    def outcome(admit: Any) -> Any:
        try:
            return admit(obj)
        except AdmissionError as exc:
            return (exc.code, exc.member, str(exc))

    assert outcome(admit_command_object) == outcome(_admitted_member_by_member)
