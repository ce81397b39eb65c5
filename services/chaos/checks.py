"""The invariants a chaos run must keep, checked from Kafka and PostgreSQL once the traffic settled.

Each check is named, passes or fails, and says what it counted. The ground
truth is what the topics and the event store hold, not what the load generator
believes it sent: a send Kafka did not confirm may still have been written.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

from certlife.contracts import topics
from certlife.contracts.records import parse_record
from certlife.services.chaos.topics_read import read_all
from certlife.services.demo.traffic import command_ids
from certlife.services.infra.settings import Settings


@dataclass
class Check:
    """One invariant: its name, whether it held, and the figures behind it."""

    name: str
    ok: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON object (the report's data file)."""
        return asdict(self)


@dataclass
class Books:
    """What the topics and the event store hold after the run."""

    sends: Counter[str] = field(default_factory=Counter)  # commandId -> messages carrying it
    outcomes: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    events: int = 0  # certificate events in the event store
    key_records: int = 0  # key requests the relay turned into records
    log: list[bytes] = field(default_factory=list)  # the log topic, in offset order


async def collect(settings: Settings, client: dict[str, Any]) -> Books:
    """Read the command and outcome topics, the log topic (as ``client``: aiokafka options of a
    principal that may read them all) and the event store's counts."""
    books = Books()
    for message in await read_all(client, settings.topic(topics.COMMANDS)):
        for cid in command_ids([(message.key or b"", message.value)]):
            books.sends[cid] += 1
    for message in await read_all(client, settings.topic(topics.COMMAND_RESULTS)):
        books.outcomes[json.loads(message.value)["commandId"]].append(message.value)
    books.log = [m.value for m in await read_all(client, settings.topic(topics.LOG))]
    conn = await asyncpg.connect(settings.database_url)
    s = f'"{settings.db_schema}"'
    try:
        books.events = await conn.fetchval(
            f"SELECT count(*) FROM {s}.certificateapplication_events "
            "WHERE topic LIKE 'certlife.domain.certificate:Certificate.%'"
        )
        books.key_records = await conn.fetchval(
            f"SELECT count(*) FROM {s}.relay_key_requests WHERE done_at_index >= 0"
        )
    finally:
        await conn.close()
    return books


def one_outcome_each(books: Books) -> Check:
    """Every commandId sent got exactly one outcome per send, and every answer to it is the same."""
    lost = sorted(cid for cid in books.sends if not books.outcomes.get(cid))
    miscounted = sorted(
        cid for cid, n in books.sends.items() if books.outcomes.get(cid) and len(books.outcomes[cid]) != n
    )
    differing = sorted(cid for cid, values in books.outcomes.items() if len(set(values)) > 1)
    unasked = sorted(books.outcomes.keys() - books.sends.keys())
    resent = sum(n - 1 for n in books.sends.values())
    figures = {
        "commandIds": len(books.sends),
        "messages": sum(books.sends.values()),
        "re-sends": resent,
        "outcome messages": sum(len(v) for v in books.outcomes.values()),
        "lost": len(lost),
        "answers != sends": len(miscounted),
        "re-send answered differently": len(differing),
        "outcome without command": len(unasked),
    }
    ok = not (lost or miscounted or differing or unasked)
    sample = (lost + miscounted + differing + unasked)[:5]
    detail = (
        f"{len(books.sends)} commandIds, {resent} re-sends: each answered once per send, re-sends identically"
        if ok
        else f"lost {len(lost)}, miscounted {len(miscounted)}, differing {len(differing)}, e.g. {sample}"
    )
    return Check("every commandId has exactly one outcome", ok, detail, figures)


def accepted_equals_events(books: Books) -> Check:
    """Events the accepted outcomes announce (one, or the sweep's expired list) = the event store's."""
    announced = 0
    for values in books.outcomes.values():
        outcome = json.loads(values[0])
        if outcome["status"] == "accepted":
            announced += len(outcome.get("expired") or []) if outcome.get("number") is None else 1
    ok = announced == books.events
    figures = {"accepted events": announced, "event store events": books.events}
    return Check("accepted outcomes = event-store events", ok, f"{announced} vs {books.events}", figures)


def log_in_order(books: Books) -> tuple[Check, dict[str, str]]:
    """Indexes 0..N-1 once each in offset order, N = events + key records; also the status the log implies."""
    wrong = [pos for pos, raw in enumerate(books.log) if parse_record(raw).index != pos]
    status: dict[str, str] = {}
    for raw in books.log:
        record = parse_record(raw)
        if record.kind == "certificate" and record.number is not None:
            status[record.number] = str(record.status)
    size, expected = len(books.log), books.events + books.key_records
    ok = not wrong and size == expected
    figures = {"log size": size, "events + key records": expected, "out of place": len(wrong)}
    detail = (
        f"0..{size - 1} once each, in order"
        if ok
        else f"size {size} (expected {expected}), misplaced {wrong[:5]}"
    )
    return Check("the log holds indexes 0..N-1 once each, in order", ok, detail, figures), status


async def read_model_matches(settings: Settings, implied: dict[str, str]) -> Check:
    """The read model's status of every certificate = the status of its newest log record."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(f'SELECT number, status FROM "{settings.db_schema}".certificates')
    finally:
        await conn.close()
    model = {r["number"]: r["status"] for r in rows}
    differ = sorted(n for n in model.keys() | implied.keys() if model.get(n) != implied.get(n))
    figures = {"certificates": len(implied), "read model rows": len(model), "differ": len(differ)}
    ok = not differ
    detail = f"{len(model)} certificates agree" if ok else f"{len(differ)} differ, e.g. {differ[:5]}"
    return Check("read model = status implied by the log", ok, detail, figures)
