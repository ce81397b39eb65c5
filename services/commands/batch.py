"""Turn one Kafka batch of raw commands into outcomes and dead letters.

Pure of Kafka: takes inbound messages, calls the application once for the whole
batch (one event-store transaction), and returns the messages to publish --
stored at once (``process_batch``), or decided now and stored by the caller
(``decide_batch``), so that the next batch is decided while this one is stored.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from certlife.contracts.commands import Command, CommandError, Rejected, parse_command
from certlife.services.commands.application import CertificateApplication, Decided, Outcome, Unreadable
from certlife.services.infra import metrics, tracing
from certlife.services.infra.transactions import Outbound

#: Header carrying the command id on outcome and dead-letter messages.
COMMAND_ID_HEADER = "certlife-command-id"


@dataclass(frozen=True)
class Inbound:
    """One consumed command message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    #: The command's W3C ``traceparent`` header, if it had one.
    traceparent: bytes | None = None
    #: The record's timestamp (ms since the epoch), for the service's debug log.
    timestamp: int | None = None


def _outcome_message(topic: str, outcome: Outcome, traceparent: bytes) -> Outbound:
    cid = outcome.command_id.encode()
    body = orjson.dumps(outcome.to_wire())  # the bytes of json.dumps(ensure_ascii=False, compact)
    return Outbound(topic, cid, body, ((COMMAND_ID_HEADER, cid), (tracing.TRACEPARENT, traceparent)))


def _dead_letter(topic: str, msg: Inbound, error: CommandError, traceparent: bytes) -> Outbound:
    reason = {
        "v": 1,
        "code": error.code,
        "message": str(error),
        "commandId": error.command_id,
        "source": {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset},
    }
    headers = [("certlife-dlq-reason", json.dumps(reason).encode()), (tracing.TRACEPARENT, traceparent)]
    if error.command_id:
        headers.append((COMMAND_ID_HEADER, error.command_id.encode()))
    return Outbound(topic, msg.key, msg.value or b"", tuple(headers))


def process_batch(
    app: CertificateApplication,
    batch: Sequence[Inbound],
    now: datetime,
    *,
    results_topic: str,
    dead_letter_topic: str,
) -> list[Outbound]:
    """Outcomes (in input order) and dead letters for one batch of raw commands, stored.

    A malformed message never stops the batch: it gets a dead letter with the
    reason, and a rejected outcome when its ``commandId`` could be read (stored
    in a receipt like every outcome, so the id stays used). Each outcome and dead
    letter carries its command's ``traceparent`` (a new trace when it had none, derived
    from its ``commandId``), and so do the events the command causes in the event store.
    """
    return _messages(
        batch,
        lambda commands, traces: app.handle_batch(commands, now, traces),
        results_topic=results_topic,
        dead_letter_topic=dead_letter_topic,
    )


@dataclass(frozen=True)
class DecidedBatch:
    """A batch's messages to publish once ``decided`` is stored (``CertificateApplication.commit``)."""

    messages: list[Outbound]
    decided: Decided


def decide_batch(
    app: CertificateApplication,
    batch: Sequence[Inbound],
    now: datetime,
    *,
    results_topic: str,
    dead_letter_topic: str,
    ahead: Decided | None = None,
) -> DecidedBatch:
    """:func:`process_batch` without storing: the messages, and the batch as decided, to be stored
    by ``app.commit`` before any message is published (see ``CertificateApplication.decide_batch``
    for ``ahead``, the batch decided just before, maybe not stored yet)."""
    decided = Decided()

    def decide(commands: list[Command | Unreadable], traces: list[str | None]) -> list[Outcome]:
        nonlocal decided
        decided = app.decide_batch(commands, now, traces, ahead)
        return decided.outcomes

    try:
        messages = _messages(batch, decide, results_topic=results_topic, dead_letter_topic=dead_letter_topic)
    except BaseException:
        app.forget()  # the cache holds the batch as decided, which will never be stored
        raise
    return DecidedBatch(messages, decided)


def _messages(
    batch: Sequence[Inbound],
    decide: Callable[[list[Command | Unreadable], list[str | None]], list[Outcome]],
    *,
    results_topic: str,
    dead_letter_topic: str,
) -> list[Outbound]:
    """Parse ``batch``, have ``decide`` give the outcomes of what could be read, and build the
    outcome messages (input order) followed by the dead letters."""
    started = time.time_ns()
    slots: list[int | None] = []
    traces: list[bytes] = []
    commands: list[Command | Unreadable] = []
    command_traces: list[str | None] = []  # stored with the events each command causes
    dead: list[Outbound] = []
    dead_codes: list[str] = []
    codes: list[str] = []  # each message's dead-letter code ("" when it has none)
    for msg in batch:
        raw = msg.value or b""
        try:
            command = parse_command(raw)
            traceparent = tracing.carried(msg.traceparent, command.command_id)
            traces.append(traceparent)
            commands.append(command)
            command_traces.append(traceparent.decode())
            slots.append(len(commands) - 1)
            codes.append("")
        except CommandError as error:
            traceparent = tracing.carried(msg.traceparent, error.command_id or None)
            traces.append(traceparent)
            dead.append(_dead_letter(dead_letter_topic, msg, error, traceparent))
            dead_codes.append(error.code)
            codes.append(error.code)
            if error.command_id:  # its rejection is stored: the commandId is used (see Unreadable)
                rejected = Rejected(command_id=error.command_id, code=error.code, message=str(error))
                commands.append(Unreadable(error.command_id, hashlib.sha256(raw).hexdigest(), rejected))
                command_traces.append(traceparent.decode())
                slots.append(len(commands) - 1)
            else:
                slots.append(None)
    outcomes = decide(commands, command_traces) if commands else []
    metrics.commands().count(
        ((o.status, o.event if o.status == "accepted" else o.code) for o in outcomes), dead_codes
    )
    out: list[Outbound] = []
    for slot, traceparent in zip(slots, traces, strict=True):
        if slot is not None:
            out.append(_outcome_message(results_topic, outcomes[slot], traceparent))
    if tracing.recording():
        results = [
            outcomes[slot] if slot is not None else code for slot, code in zip(slots, codes, strict=True)
        ]
        _record_spans(results, traces, started)
    return out + dead


def _record_spans(results: Sequence[Outcome | str], traces: Sequence[bytes], started: int) -> None:
    """One ``certlife.command`` span per command under its trace: its outcome, or its dead letter's code."""
    ended = time.time_ns()
    for result, traceparent in zip(results, traces, strict=True):
        if isinstance(result, str):
            attributes: dict[str, str | int] = {"certlife.outcome": "dead-letter", "certlife.code": result}
        else:
            code = result.event if result.status == "accepted" else result.code
            attributes = {
                "certlife.command_id": result.command_id,
                "certlife.outcome": result.status,
                "certlife.code": code or "",
            }
        tracing.record_span("certlife.command", traceparent, started, ended, attributes)
