"""The pure record -> row mapping of the read models, and the batch selection guards."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from certlife.contracts.records import parse_record
from certlife.domain.certificate import Certificate
from certlife.projections import mapping
from certlife.projections.answer import answer_status, covering_checkpoint
from certlife.projections.batch import Message, select_new
from certlife.projections.errors import LogGap
from certlife.projections.mapping import (
    certificate_json,
    checkpoint_size,
    fold_current,
    history_rows,
    instant,
    instant_us,
    text_array,
)
from certlife.projections.tracking import Position
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit

ISSUER = "certlife.example"
LOG, CPS = "p.certlife.log.v1", "p.certlife.checkpoints.v1"


def _log() -> LogBuilder:
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.add("B-1", "issued", "valid")
    b.add("A-1", "suspended", "suspended", reason="audit overdue")
    b.add("A-1", "amended", "suspended")
    b.add("B-1", "revoked", "revoked", reason="non-conformity")
    return b


def _us(moment: datetime) -> int:
    """Microseconds since the Unix epoch, as the stage takes a time."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@pytest.mark.parametrize(
    "text",
    ["1970-01-01T00:00:00Z", "2026-02-01", "2026-02-01T12:34:56.123456Z", "1969-12-31T23:59:59.5Z",
     "0001-01-01", "9999-12-31T23:59:59.999999Z", "2026-02-01T00:00:00.123456789Z"],
)  # fmt: skip
def test_instant_us_is_the_instant_in_whole_microseconds(text: str) -> None:
    assert instant_us(text) == _us(instant(text))
    assert datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=instant_us(text)) == instant(text)


def test_fold_keeps_the_newest_row_per_certificate() -> None:
    rows = fold_current([parse_record(r) for r in _log().records], ISSUER)
    assert set(rows) == {"A-1", "B-1"}
    a, b = rows["A-1"], rows["B-1"]
    assert (a.status, a.event, a.seq, a.log_index) == ("suspended", "amended", 3, 3)
    assert (b.status, b.seq, b.log_index, b.reason) == ("revoked", 2, 4, "non-conformity")
    assert a.certificate_id == Certificate.create_id(ISSUER, "A-1")
    assert a.valid_until == _us(datetime(2028, 1, 1, tzinfo=UTC))


def test_suspension_is_carried_through_a_later_amendment_and_cleared_by_revocation() -> None:
    records = [parse_record(r) for r in _log().records]
    rows = fold_current(records, ISSUER)
    assert rows["A-1"].suspension_reason == "audit overdue"
    assert rows["A-1"].suspended_at == _us(datetime.fromisoformat(records[2].effective_at))
    assert rows["B-1"].suspended_at is None
    # Suspended in an earlier batch: the fold cannot know, the writer keeps the stored value.
    assert fold_current(records[3:4], ISSUER)["A-1"].suspended_at is None


def test_history_has_one_row_per_certificate_record_and_skips_key_records() -> None:
    b = _log()
    b.rotate("k1")
    b.add("B-2", "issued", "valid")
    rows = history_rows([parse_record(r) for r in b.records], ISSUER)
    assert [r.log_index for r in rows] == [0, 1, 2, 3, 4, 6]
    assert [(r.number, r.seq, r.event) for r in rows[2:4]] == [("A-1", 2, "suspended"), ("A-1", 3, "amended")]


def test_both_read_models_share_one_encoding_of_a_certificate() -> None:
    """A record's certificate is encoded once for both rows (the same text object), and exactly."""
    records = [parse_record(r) for r in _log().records]
    history = {h.log_index: h.certificate for h in history_rows(records, ISSUER)}
    for row in fold_current(records, ISSUER).values():
        assert row.certificate is history[row.log_index]
        assert json.loads(row.certificate) == records[row.log_index].data["certificate"]


def test_the_certificate_memo_checks_identity_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry answers only for its own object (an ``id`` alone may be reused); a full memo is emptied."""
    cert = {"number": "A-1", "models": ["M"]}
    mapping._JSON_MEMO[id(cert)] = ({"number": "stale"}, '{"number":"stale"}')
    assert json.loads(certificate_json(cert)) == cert
    monkeypatch.setattr(mapping, "JSON_MEMO_SIZE", 3)
    certs = [{"number": f"N-{i}"} for i in range(10)]
    assert [json.loads(certificate_json(c)) for c in certs] == certs
    assert len(mapping._JSON_MEMO) <= 3
    with pytest.raises(ValueError, match="not encodable"):
        certificate_json({"number": 2**70})


@pytest.mark.parametrize(
    ("items", "literal"),
    [
        ([], "{}"),
        (["IEC 61851-1:2017", "Hefei plant 1, China"], '{"IEC 61851-1:2017","Hefei plant 1, China"}'),
        (["ünï€ode", "{x}", "NULL", " "], '{"ünï€ode","{x}","NULL"," "}'),
        (['DC "60"', "back\\slash", "tab\there"], '{"DC \\"60\\"","back\\\\slash","tab\there"}'),
    ],
)
def test_text_array_is_the_array_literal_of_its_items(items: list[str], literal: str) -> None:
    assert text_array(items) == literal


def test_text_array_refuses_an_element_that_is_not_text() -> None:
    with pytest.raises(TypeError, match="array element is int, not text"):
        text_array(["a", 1])  # type: ignore[list-item]


def test_checkpoint_size_is_line_two_of_the_note() -> None:
    assert checkpoint_size(_log().checkpoint().encode()) == 5
    with pytest.raises(ValueError):
        checkpoint_size(b"origin\nfive\nroot\n")


def _messages(records: list[bytes], first_offset: int = 0) -> list[Message]:
    return [Message(LOG, 0, first_offset + 2 * i, raw) for i, raw in enumerate(records)]


def test_select_drops_redelivered_offsets_and_indexes() -> None:
    raw = _log().records
    records, parked, position = select_new(_messages(raw[:3]), Position(1), LOG, CPS)
    assert [r.index for r in records] == [0, 1, 2] and position.log_index == 2 and parked == []
    assert position.offsets == {(LOG, 0): 5}
    # Redelivery from offset 0 (a rebalance, a stale seek): only indexes 3 and 4 are new.
    again, _, after = select_new(_messages(raw), position, LOG, CPS)
    assert [r.index for r in again] == [3, 4] and after.log_index == 4
    # Same bytes at new offsets (stored offset lost): the index guard still drops them.
    dup, _, same = select_new(_messages(raw, first_offset=100), after, LOG, CPS)
    assert dup == [] and same.log_index == 4


def test_select_refuses_a_gap_in_the_log() -> None:
    raw = _log().records
    with pytest.raises(LogGap):
        select_new(_messages([raw[0], raw[2]]), Position(1), LOG, CPS)


def test_select_keeps_the_newest_checkpoint() -> None:
    notes = [
        Message(CPS, 0, i, f"o\n{size}\nroot\n\n— o sig\n".encode()) for i, size in enumerate([500, 1000])
    ]
    _, _, position = select_new(notes, Position(1, checkpoint_size=200), LOG, CPS)
    assert position.checkpoint_size == 1000 and position.offsets[(CPS, 0)] == 2


def test_status_answer() -> None:
    now = datetime(2027, 6, 1, tzinfo=UTC)
    row = {
        "status": "valid",
        "valid_until": datetime(2028, 1, 1, tzinfo=UTC),
        "log_index": 7,
        "recorded_at": datetime(2027, 5, 31, tzinfo=UTC),
    }
    answer = answer_status("A-1", row, 10, None, now)
    assert (answer.status, answer.index, answer.checkpoint_size) == ("valid", 7, 10)
    assert answer.age_seconds == 86400
    assert answer_status("A-1", row, 7, None, now).checkpoint is None
    late = answer_status("A-1", row, 10, None, datetime(2028, 1, 2, tzinfo=UTC))
    assert late.status == "expired" and late.note
    assert answer_status("X", None, 10, None, now).status == "unknown"
    assert covering_checkpoint(9, 10) == 10 and covering_checkpoint(10, 10) is None
