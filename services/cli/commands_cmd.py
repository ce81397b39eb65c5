"""Operator commands: ``certctl issue|suspend|reinstate|renew|amend|revoke|withdraw|expire-due``
publish one lifecycle command; ``certctl show|history`` read the event store.

Every command is built as wire JSON and validated with
``certlife.contracts.commands.parse_command`` before anything is published, so a
mistake costs one line on stderr and exit 2, never a half-sent command. With
``--wait`` the outcome is read from the results topic (read committed): exit 0
when accepted, 1 when rejected, 2 on timeout. The commandId defaults to a fresh
uuid4; pass ``--command-id`` to make a retry of the same request idempotent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from certlife.services.cli.base import EXIT_FAILED, EXIT_OK, CliError, certificate_number
from certlife.services.infra.kafka_access import describe_kafka_failure
from certlife.services.infra.settings import Settings

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KAFKA_FIX = "start it with `certctl stack up` or set CERTLIFE_KAFKA_BOOTSTRAP"
_DB_FIX = "start it with `certctl stack up` or set CERTLIFE_DATABASE_URL"


# -- publishing ---------------------------------------------------------------------------


class KafkaCommandSender:
    """Publishes one command and optionally waits for its outcome (read committed)."""

    def __init__(self, settings: Settings) -> None:
        """Use the broker and topic names of ``settings``; nothing connects yet."""
        self.settings = settings

    def send(self, key: bytes, value: bytes, command_id: str, wait: float | None) -> dict[str, Any] | None:
        """Publish; with ``wait`` seconds, return the outcome object (None on timeout)."""
        from aiokafka.errors import KafkaError

        # aiokafka logs every failed connection attempt; the one-line error below says it all.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        try:
            return asyncio.run(self._send(key, value, command_id, wait))
        except KafkaError as exc:
            raise CliError(
                describe_kafka_failure(exc, self.settings.kafka) + f"; {_KAFKA_FIX}", EXIT_FAILED
            ) from None

    async def _send(
        self, key: bytes, value: bytes, command_id: str, wait: float | None
    ) -> dict[str, Any] | None:
        from aiokafka import AIOKafkaProducer

        from certlife.contracts import topics
        from certlife.projections.committed import committed_consumer

        client = self.settings.kafka.client_options()
        consumer = None
        if wait is not None:
            consumer = committed_consumer(client, request_timeout_ms=10_000)
            await _start(consumer)
        try:
            if consumer is not None:  # position at the end first, so the outcome cannot be missed
                await self._position_at_end(consumer, self.settings.topic(topics.COMMAND_RESULTS))
            producer = AIOKafkaProducer(
                **client, acks="all", enable_idempotence=True, request_timeout_ms=10_000
            )
            await _start(producer)
            try:
                await producer.send_and_wait(self.settings.topic(topics.COMMANDS), value, key=key)
            finally:
                await producer.stop()
            if consumer is None or wait is None:
                return None
            return await self._await_outcome(consumer, command_id, wait)
        finally:
            if consumer is not None:
                await consumer.stop()

    async def _position_at_end(self, consumer: Any, topic: str) -> None:
        from aiokafka import TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(**self.settings.kafka.client_options())
        await _start(admin, stop="close")
        try:
            described = await admin.describe_topics([topic])
        finally:
            await admin.close()
        partitions = [p["partition"] for d in described if d["error_code"] == 0 for p in d["partitions"]]
        if not partitions:
            raise CliError(
                f"topic {topic} does not exist; start the command service first (`certctl serve commands`)"
            )
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)

    @staticmethod
    async def _await_outcome(consumer: Any, command_id: str, wait: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + wait
        wanted = command_id.encode()
        while (left := deadline - time.monotonic()) > 0:
            batches = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000) + 1)
            for records in batches.values():
                for record in records:
                    if record.key == wanted:
                        outcome: dict[str, Any] = json.loads(record.value)
                        return outcome
        return None


async def _start(client: Any, stop: str = "stop") -> None:
    """Start an aiokafka client; on failure close it, so nothing leaks."""
    try:
        await client.start()
    except BaseException:
        await getattr(client, stop)()
        raise


def _publish(args: argparse.Namespace, settings: Settings, command: dict[str, Any]) -> int:
    """Validate locally, publish, and report (and with ``--wait`` judge) the outcome."""
    from certlife.contracts.commands import CommandError, parse_command

    if getattr(args, "effective_at", None):
        command["effectiveAt"] = _instant_text(args.effective_at)
    value = json.dumps(command, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        parsed = parse_command(value)
    except CommandError as exc:
        raise CliError(f"not sent: {exc}") from None
    number = getattr(parsed, "number", None)
    key = (number or parsed.type).encode()
    wait = args.timeout if args.wait else None
    outcome = KafkaCommandSender(settings).send(key, value, parsed.command_id, wait)
    target = f" for {number}" if number else ""
    if not args.wait:
        print(f"sent {parsed.type} command {parsed.command_id}{target}")
        return EXIT_OK
    if outcome is None:
        raise CliError(
            f"sent {parsed.type} command {parsed.command_id}{target}, but no outcome within {args.timeout:g} s; "
            "is `certctl serve commands` running? (re-send with the same --command-id, it is idempotent)"
        )
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False))
    elif outcome.get("status") == "accepted":
        detail = f" (version {outcome['version']})" if outcome.get("version") else ""
        if outcome.get("expired") is not None:
            expired = outcome["expired"]
            detail = f": {len(expired)} certificate(s) expired" + (
                ": " + " ".join(expired) if expired else ""
            )
        print(f"accepted: {outcome.get('event')}{target}{detail}")
    else:
        print(f"rejected ({outcome.get('code')}): {outcome.get('message')}")
    return EXIT_OK if outcome.get("status") == "accepted" else EXIT_FAILED


def _instant_text(text: str) -> str:
    """Accept ``YYYY-MM-DD`` as midnight UTC; pass anything else on for validation."""
    return f"{text}T00:00:00Z" if _DATE_ONLY.match(text) else text


def _base(args: argparse.Namespace, settings: Settings, kind: str) -> dict[str, Any]:
    cmd: dict[str, Any] = {"type": kind, "commandId": args.command_id or str(uuid.uuid4())}
    if kind != "expire-due":
        cmd["issuer"] = args.issuer or settings.issuer
        cmd["number"] = args.number
    return cmd


def _members(**members: Any) -> dict[str, Any]:
    return {k: v for k, v in members.items() if v is not None}


def _read_issue_file(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"cannot read {path}: {reason}; pass a JSON file holding the certificate") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold one JSON object (the issue command's members)")
    return data


# -- handlers -----------------------------------------------------------------------------


def _issue(args: argparse.Namespace, settings: Settings) -> int:
    data = _read_issue_file(args.file)
    if data.get("type", "issue") != "issue":
        raise CliError(f"{args.file} holds a {data['type']!r} command; `certctl issue` sends issue commands")
    cmd = {
        **data,
        "type": "issue",
        "commandId": args.command_id or data.get("commandId") or str(uuid.uuid4()),
        "issuer": args.issuer or data.get("issuer") or settings.issuer,
    }
    for member in ("validFrom", "validUntil"):
        if isinstance(cmd.get(member), str):
            cmd[member] = _instant_text(cmd[member])
    return _publish(args, settings, cmd)


def _lifecycle(args: argparse.Namespace, settings: Settings) -> int:
    cmd = _base(args, settings, args.command)
    kind = args.command
    if kind == "suspend":
        cmd.update(_members(reason=args.reason, reviewDate=args.review_date))
    elif kind in ("reinstate", "withdraw", "revoke"):
        cmd.update(_members(reason=args.reason))
    elif kind == "renew":
        cmd.update(
            _members(
                validFrom=_instant_text(args.valid_from),
                validUntil=_instant_text(args.valid_until),
                reason=args.reason,
            )
        )
    elif kind == "amend":
        cmd.update(
            _members(
                scope=args.scope,
                models=args.model,
                factories=args.factory,
                standards=args.standard,
                reason=args.reason,
            )
        )
        if all(v is None for v in (args.scope, args.model, args.factory, args.standard)):
            raise CliError("amend needs at least one of --scope, --model, --factory, --standard")
    elif kind == "expire-due":
        cmd["limit"] = args.limit
    return _publish(args, settings, cmd)


# -- queries --------------------------------------------------------------------------------


def _open_application(settings: Settings) -> Any:
    import psycopg
    from eventsourcing.persistence import PersistenceError

    from certlife.services.bootstrap import build_application

    # An operator waits seconds, not the library's default 30, to learn the database is down.
    try:
        return build_application(settings, connect_timeout=5, pool_size=1)
    except (PersistenceError, psycopg.Error, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot open the event store at {_safe_url(settings)}: {first}; {_DB_FIX}") from None


def _safe_url(settings: Settings) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", settings.database_url)


def _query(args: argparse.Namespace, settings: Settings) -> int:
    from certlife.domain.errors import CertificateNotFound

    app = _open_application(settings)
    issuer = args.issuer or settings.issuer
    try:
        if args.command == "show":
            cert = app.get_certificate(args.number, issuer)
            _print_certificate(cert, args.json)
        else:
            _print_history(args.number, issuer, app.history(args.number, issuer), args.json)
    except CertificateNotFound as exc:
        print(f"certctl: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        app.close()
    return EXIT_OK


def _print_certificate(cert: Any, as_json: bool) -> None:
    data = cert.data.to_public()
    view = {
        "id": str(cert.id),
        "issuer": cert.issuer,
        "version": cert.version,
        "status": cert.status.value,
        "statusSince": cert.status_effective_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reviewDate": cert.review_date,
        "certificate": data,
        "testReports": [t.to_dict() for t in cert.test_reports],
    }
    if as_json:
        print(json.dumps(view, ensure_ascii=False))
        return
    review = f" (review {cert.review_date})" if cert.review_date else ""
    lines = [
        f"{data['number']}  {data['scheme']}  issuer {cert.issuer}  version {cert.version}",
        f"status:       {view['status']} since {view['statusSince']}{review}",
        f"holder:       {data['holder']}",
        f"manufacturer: {data['manufacturer']}",
        f"factories:    {'; '.join(data['factories'])}",
        f"product:      {data['product']}",
        f"models:       {', '.join(data['models'])}",
        f"standards:    {', '.join(data['standards'])}",
        f"scope:        {data['scope']}",
        f"valid:        {data['validFrom']} .. {data['validUntil']}",
    ]
    print("\n".join(lines))


def _print_history(number: str, issuer: str, events: list[Any], as_json: bool) -> None:
    from certlife.domain.certificate import EVENT_NAMES

    rows = [
        {
            "version": e.originator_version,
            "event": EVENT_NAMES[type(e)],
            "status": e.status,
            "effectiveAt": e.effective_at,
            "recordedAt": e.recorded_at,
            "reason": e.reason,
            "commandId": e.command_id,
        }
        for e in events
    ]
    if as_json:
        print(json.dumps({"number": number, "issuer": issuer, "events": rows}, ensure_ascii=False))
        return
    for r in rows:
        reason = f"  {r['reason']}" if r["reason"] else ""
        print(
            f"v{r['version']:<3} {r['effectiveAt']}  {r['event']:<10} -> {r['status']:<9} "
            f"[{r['commandId']}]{reason}"
        )


# -- argument parsing --------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, number: bool = True) -> None:
    if number:
        parser.add_argument("number", help="certificate number", type=certificate_number)
    parser.add_argument("--issuer", help="issuer (default: CERTLIFE_ISSUER or certlife.example)")
    parser.add_argument("--command-id", help="idempotency key (default: a fresh uuid4)")
    if number:
        parser.add_argument("--effective-at", help="legal effective time, RFC 3339 (default: now)")
    parser.add_argument("--wait", action="store_true", help="wait for the outcome; exit 1 if rejected")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds --wait waits (default 30)")
    parser.add_argument("--json", action="store_true", help="with --wait: print the outcome JSON")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the lifecycle commands and ``show``/``history``."""
    p = sub.add_parser("issue", help="issue a certificate from a JSON file")
    p.add_argument("--file", required=True, help="JSON object with the certificate ('-' = stdin)")
    _common(p, number=False)
    p.add_argument("--effective-at", help="legal effective time, RFC 3339 (default: now)")
    p.set_defaults(handler=lambda a: _issue(a, Settings.from_env()))

    specs: list[tuple[str, str]] = [
        ("suspend", "suspend a valid certificate"),
        ("reinstate", "lift a suspension"),
        ("renew", "give a certificate a new validity period"),
        ("amend", "change scope, models, factories or standards"),
        ("revoke", "revoke a certificate (final)"),
        ("withdraw", "withdraw a certificate (final)"),
    ]
    for name, text in specs:
        p = sub.add_parser(name, help=text)
        _common(p)
        required = name in ("suspend", "revoke")
        p.add_argument("--reason", required=required, help="reason" + (" (required)" if required else ""))
        if name == "suspend":
            p.add_argument("--review-date", help="date the suspension is reviewed (YYYY-MM-DD)")
        if name == "renew":
            p.add_argument("--valid-from", required=True, help="RFC 3339 time or YYYY-MM-DD")
            p.add_argument("--valid-until", required=True, help="RFC 3339 time or YYYY-MM-DD")
        if name == "amend":
            p.add_argument("--scope", help="new scope text")
            p.add_argument("--model", action="append", help="full new model list (repeat)")
            p.add_argument("--factory", action="append", help="full new factory list (repeat)")
            p.add_argument("--standard", action="append", help="full new standards list (repeat)")
        p.set_defaults(handler=lambda a: _lifecycle(a, Settings.from_env()))

    p = sub.add_parser("expire-due", help="expire certificates whose validity has ended")
    _common(p, number=False)
    p.add_argument("--limit", type=int, default=500, help="at most this many (default 500)")
    p.set_defaults(handler=lambda a: _lifecycle(a, Settings.from_env()))

    for name, text in (("show", "show a certificate's current state"), ("history", "list its events")):
        p = sub.add_parser(name, help=text)
        p.add_argument("number", help="certificate number", type=certificate_number)
        p.add_argument("--issuer", help="issuer (default: CERTLIFE_ISSUER or certlife.example)")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(handler=lambda a: _query(a, Settings.from_env()))
