"""``certverify mirror`` and ``certverify status NUMBER --database DSN``: the partner mirror.

Records that passed every integrity check but could not be applied are parked
(``certlife.projections.parking``): the mirror report lists them under ``parked``
(``count``, ``thisRun`` and the lowest ``records`` with index, certificate,
code and message) and a line on stderr names them; ``status`` answers
``unavailable`` for a certificate whose newest record is parked. Every answer
that is not a status (``unknown``, ``unavailable``) exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import Any

DEFAULT_SCHEMA = "certlife_mirror"
#: The status of a certificate whose newest verified record is parked (``certlife.projections.parking``).
UNAVAILABLE = "unavailable"


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

    from certlife.contracts.verification import VerificationError
    from certlife.services.partner.mirror import PartnerMirror
    from certlife.services.partner.sources import SourceError, read_trust_file

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
        "parked": {**result.parked_records.to_json(), "thisRun": result.parked},
        "failure": None if result.failure is None else result.failure.to_json(),
    }
    parked = result.parked_records
    if parked.count:
        shown = ", ".join(f"{r['index']} ({r['code']})" for r in parked.records)
        more = f" and {parked.count - len(parked.records)} more" if parked.count > len(parked.records) else ""
        print(
            f"certverify mirror: {parked.count} verified record(s) parked, not applied: index {shown}{more}",
            file=sys.stderr,
        )
    if result.failure is not None:
        error = VerificationError(result.failure)
        error.report = report
        raise error
    return report


def run_mirror_status(args: argparse.Namespace) -> dict[str, Any]:
    """The mirrored, verified status of one certificate, with what it rests on."""
    import asyncpg

    from certlife.projections.mirror_store import MirrorStore
    from certlife.services.partner.sources import SourceError

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
    return _mirror_answer(args, row)


def _mirror_answer(args: argparse.Namespace, row: dict[str, Any]) -> dict[str, Any]:
    """The ``status`` report from the mirror's row; raise VerificationError when it is ``unknown``.

    Unknown when the mirror holds no record of the certificate
    (``certificate-not-found``), or with ``--max-age`` when the mirror's
    newest checkpoint is older or undated (``stale-checkpoint``). Unavailable
    when its newest record was parked (``record-parked``, ``answer.parked``
    says which record and why).
    """
    from certlife.contracts.verification import Check, Failure, VerificationError, parse_time
    from certlife.contracts.verification.failures import fail

    number, status, age, why = args.number, row["status"] or "unknown", None, None
    if row["status"] is None:
        why = fail("certificate-not-found", "the mirror holds no record of it", certificate=number)
    parked = None
    if status == UNAVAILABLE:
        parked = {"index": row["parked_index"], "code": row["parked_code"], "message": row["parked_message"]}
        failure = Failure(
            "record-parked",
            Check.LOOKUP.value,
            f"record {row['parked_index']} of it passed every integrity check but was parked, not "
            f"applied ({row['parked_code']}: {row['parked_message']})",
            index=row["parked_index"],
            certificate=number,
            checkpoint=row["checkpoint_size"],
        )
        why = VerificationError(failure)
    if row["checkpoint_time"]:
        age = (datetime.now(UTC) - parse_time(row["checkpoint_time"])).total_seconds()
    if why is None and args.max_age is not None:
        where = {"index": row["log_index"], "certificate": number, "checkpoint": row["checkpoint_size"]}
        if age is None:
            why = fail(
                "stale-checkpoint", "the mirror has no dated checkpoint to date the answer by", **where
            )
        elif age > args.max_age.total_seconds():
            why = fail(
                "stale-checkpoint",
                f"the mirror's newest checkpoint (size {row['checkpoint_size']}) dates from "
                f"{row['checkpoint_time']}, older than --max-age",
                **where,
            )
    answer = {
        "number": number,
        "status": "unknown" if why is not None and parked is None else status,
        "index": row["log_index"],
        # An unavailable row keeps the last applied record's values: not what the answer rests on.
        "seq": None if parked else row["seq"],
        "event": None if parked else row["event"],
        "recordedAt": None if parked else row["recorded_at"],
        "checkpoint": {"size": row["checkpoint_size"], "time": row["checkpoint_time"]},
        "checkpointAgeSeconds": None if age is None else round(age),
        "mirrorFailure": row["failure"],
        "reason": None if why is None else why.failure.message,
        "parked": parked,
    }
    report = {"ok": why is None, "checks": {}, "failure": None, "answer": answer, "source": "mirror"}
    if why is not None:
        report["failure"] = why.failure.to_json()
        error = VerificationError(why.failure)
        error.report = report
        raise error
    return report
