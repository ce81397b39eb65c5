"""``certverify mirror`` and ``certverify status NUMBER --database DSN``: the partner mirror."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from datetime import UTC, datetime
from typing import Any

DEFAULT_SCHEMA = "certlife_mirror"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``mirror``."""
    mirror = sub.add_parser(
        "mirror", help="replay the log from Kafka into your own database, verifying before applying"
    )
    mirror.add_argument("--bootstrap", required=True, metavar="HOST:PORT", help="the Kafka bootstrap server")
    mirror.add_argument("--database", required=True, metavar="DSN", help="your PostgreSQL database")
    mirror.add_argument("--trust", required=True, metavar="TRUST.JSON", help="the trust file (keys, origin)")
    mirror.add_argument(
        "--schema", default=DEFAULT_SCHEMA, help=f"schema for the mirror (default {DEFAULT_SCHEMA})"
    )
    mirror.add_argument("--topic-prefix", default="", help="prefix of the log topics (test deployments)")
    mirror.add_argument("--once", action="store_true", help="stop when caught up instead of following")
    mirror.add_argument("--json", action="store_true", help="print one JSON report object on stdout")
    mirror.set_defaults(handler=run_mirror)


def run_mirror(args: argparse.Namespace) -> dict[str, Any]:
    """Mirror until caught up (``--once``) or until Ctrl-C / SIGTERM."""
    import asyncpg

    from contracts.verification import VerificationError
    from projections.mirror import PartnerMirror
    from services.verify.sources import SourceError, read_trust_file

    trust = read_trust_file(args.trust)
    mirror = PartnerMirror(
        args.bootstrap, args.database, trust, schema=args.schema, topic_prefix=args.topic_prefix
    )

    async def go() -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await mirror.run(stop, follow=not args.once)

    from aiokafka.errors import KafkaError

    # Connection problems become one line below; aiokafka's own log lines would repeat them.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        result = asyncio.run(go())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError) as exc:
        raise SourceError(f"cannot use the mirror database or Kafka: {exc or type(exc).__name__}") from None
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    report: dict[str, Any] = {
        "ok": result.failure is None,
        "origin": trust.origin,
        "records": result.verified,
        "applied": result.applied,
        "checkpointSize": result.checkpoint_size,
        "waitingForCheckpoint": result.pending,
        "checks": result.checks,
        "failure": None if result.failure is None else result.failure.to_json(),
    }
    if result.failure is not None:
        error = VerificationError(result.failure)
        error.report = report
        raise error
    return report


def run_mirror_status(args: argparse.Namespace) -> dict[str, Any]:
    """The mirrored, verified status of one certificate, with what it rests on."""
    import asyncpg

    from contracts.verification import parse_time
    from projections.mirror_store import MirrorStore
    from services.verify.sources import SourceError

    async def go() -> dict[str, Any] | None:
        conn = await asyncpg.connect(args.database, timeout=10)
        try:
            return await MirrorStore(conn, args.schema).status(args.number)
        finally:
            await conn.close()

    try:
        row = asyncio.run(go())
    except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise SourceError(f"cannot read the mirror database: {exc}") from None
    if row is None:
        raise SourceError(f"no mirror in schema {args.schema!r}: run `certverify mirror` first")
    status, age = row["status"] or "unknown", None
    if row["checkpoint_time"]:
        age = (datetime.now(UTC) - parse_time(row["checkpoint_time"])).total_seconds()
        if args.max_age is not None and age > args.max_age.total_seconds():
            status = "unknown"
    answer = {
        "number": args.number,
        "status": status,
        "index": row["log_index"],
        "seq": row["seq"],
        "event": row["event"],
        "recordedAt": row["recorded_at"],
        "checkpoint": {"size": row["checkpoint_size"], "time": row["checkpoint_time"]},
        "checkpointAgeSeconds": None if age is None else round(age),
        "mirrorFailure": row["failure"],
    }
    return {"ok": status != "unknown", "checks": {}, "failure": None, "answer": answer, "source": "mirror"}
