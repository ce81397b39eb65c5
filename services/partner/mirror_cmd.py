"""``certverify mirror`` and ``certverify status NUMBER --database DSN``: the partner mirror.

Records that passed every integrity check but could not be applied are parked
(``certlife.projections.parking``): the mirror report lists them under ``parked``
(``count``, ``thisRun`` and the lowest ``records`` with index, certificate,
code and message) and a line on stderr names them; ``status`` answers
``unavailable`` for a certificate whose newest record is parked. Every answer
that is not a status (``unknown``, ``unavailable``) exits 1.

This module is the partner tool's composition root: it alone opens the
partner's PostgreSQL session and Kafka consumer (:func:`open_mirror`) and
hands them to the mirror. It uses asyncpg and the read-committed consumer
factory directly, not the services' connectors, so that ``certlife[mirror]``
needs none of the services' dependencies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certlife.contracts.trust import TrustFile
    from certlife.services.infra.kafka_access import KafkaAccess
    from certlife.services.partner.mirror import PartnerMirror

DEFAULT_SCHEMA = "certlife_mirror"
#: Bytes of the log one fetch may return (aiokafka's default, 1 MiB, is about a thousand records).
FETCH_BYTES = 8 << 20
#: How long the broker may hold a fetch with nothing new. Requests on a connection are answered
#: in order, so this also bounds how long the end-offset query of each round and stopping wait.
FETCH_WAIT_MS = 100


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``mirror``."""
    mirror = sub.add_parser(
        "mirror",
        help="replay the log from Kafka (or tlog-tiles: --tiles) into your own database, verifying before applying",
    )
    mirror.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        help="the Kafka bootstrap server (default: CERTLIFE_KAFKA_BOOTSTRAP, as a partner kit's kafka.env sets it)",
    )
    mirror.add_argument(
        "--tiles",
        metavar="URL",
        help="read the log from C2SP tlog-tiles at http(s)://URL instead of Kafka (fetches only what is new)",
    )
    mirror.add_argument("--database", required=True, metavar="DSN", help="your PostgreSQL database")
    mirror.add_argument("--trust", required=True, metavar="TRUST.JSON", help="the trust file (keys, origin)")
    from certlife.services.partner.policy_option import add_witness_policy_option

    add_witness_policy_option(mirror)  # only checkpoints meeting its quorum anchor what is applied
    mirror.add_argument(
        "--schema", default=DEFAULT_SCHEMA, help=f"schema for the mirror (default {DEFAULT_SCHEMA})"
    )
    mirror.add_argument(
        "--topic-prefix",
        default=None,
        help="prefix of the log topics (test deployments; default: the kit's CERTLIFE_TOPIC_PREFIX, else none)",
    )
    from certlife.services.partner.kit_option import add_kit_option

    add_kit_option(mirror)
    mirror.add_argument("--once", action="store_true", help="stop when caught up instead of following")

    mirror.add_argument("--json", action="store_true", help="print one JSON report object on stdout")
    mirror.set_defaults(handler=run_mirror)


@contextlib.asynccontextmanager
async def open_mirror(
    access: KafkaAccess,
    database: str,
    trust: TrustFile,
    *,
    schema: str = DEFAULT_SCHEMA,
    topic_prefix: str = "",
    **options: Any,
) -> AsyncIterator[PartnerMirror]:
    """A :class:`~certlife.services.partner.mirror.PartnerMirror` on its own session and consumer.

    Opens the session to ``database`` and a started read-committed consumer of
    ``access``; both are closed when the block ends (also when opening fails).
    ``options`` go to the mirror (``jobs``, ``parallel_from``, ``chunk``).
    """
    import asyncpg

    from certlife.projections.committed import committed_consumer
    from certlife.services.partner.mirror import PartnerMirror

    conn = await asyncpg.connect(database)
    try:
        consumer = committed_consumer(
            access.client_options(),
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=FETCH_BYTES,
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        try:
            await consumer.start()
            yield PartnerMirror(conn, consumer, trust, schema=schema, topic_prefix=topic_prefix, **options)
        finally:
            await consumer.stop()
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def open_tiles_mirror(
    url: str, database: str, trust: TrustFile, *, schema: str = DEFAULT_SCHEMA, **options: Any
) -> AsyncIterator[PartnerMirror]:
    """A :class:`~certlife.services.partner.mirror.PartnerMirror` of the tiles below ``url``, on its own session.

    ``options`` go to the mirror (``jobs``, ``parallel_from``, ``chunk``).
    """
    import asyncpg

    from certlife.services.partner.mirror import PartnerMirror
    from certlife.services.partner.tiles_http import TileFetcher

    fetcher = TileFetcher(url)
    try:
        conn = await asyncpg.connect(database)
        try:
            yield PartnerMirror(conn, None, trust, schema=schema, tiles=fetcher, **options)
        finally:
            await conn.close()
    finally:
        await fetcher.close()


def run_mirror(args: argparse.Namespace) -> dict[str, Any]:
    """Mirror until caught up (``--once``) or until Ctrl-C / SIGTERM."""
    import asyncpg

    from certlife.services.infra.kafka_access import KafkaAccessError, describe_kafka_failure
    from certlife.services.infra.settings import partner_access
    from certlife.services.partner.policy_option import read_trust
    from certlife.services.partner.sources import SourceError

    trust = read_trust(args)  # --trust, its witnessPolicy replaced by --witness-policy
    if getattr(args, "tiles", None):
        return _report(trust, _run_tiles(args, trust))
    if args.topic_prefix is None:
        args.topic_prefix = os.environ.get("CERTLIFE_TOPIC_PREFIX", "")
    access = partner_access()
    if args.bootstrap:
        access = replace(access, bootstrap=args.bootstrap)
    elif not os.environ.get("CERTLIFE_KAFKA_BOOTSTRAP"):
        raise SourceError("no Kafka bootstrap: pass --bootstrap HOST:PORT or set CERTLIFE_KAFKA_BOOTSTRAP")

    async def go() -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_mirror(
            access, args.database, trust, schema=args.schema, topic_prefix=args.topic_prefix
        ) as mirror:
            return await mirror.run(stop, follow=not args.once)

    from aiokafka.errors import KafkaError

    # Connection problems become one line below; aiokafka's own log lines would repeat them.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        result = asyncio.run(go())
    except KafkaError as exc:
        raise SourceError(describe_kafka_failure(exc, access)) from None
    except KafkaAccessError as exc:  # no credentials, unreadable CA: an input error (exit 2)
        raise SourceError(str(exc)) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise SourceError(f"cannot use the mirror database or Kafka: {exc or type(exc).__name__}") from None
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    return _report(trust, result)


def _run_tiles(args: argparse.Namespace, trust: TrustFile) -> Any:
    """``mirror --tiles URL``: the same run as from Kafka, the log read from tiles."""
    import asyncpg

    from certlife.services.partner.sources import TILES_SCHEMES, SourceError

    if not args.tiles.startswith(TILES_SCHEMES):
        raise SourceError(f"{args.tiles}: expected an http:// or https:// tiles URL")

    async def go() -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_tiles_mirror(args.tiles, args.database, trust, schema=args.schema) as mirror:
            return await mirror.run(stop, follow=not args.once)

    try:
        return asyncio.run(go())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise SourceError(f"cannot use the mirror database: {exc or type(exc).__name__}") from None
    except ValueError as exc:
        raise SourceError(str(exc)) from None


def _report(trust: TrustFile, result: Any) -> dict[str, Any]:
    """The mirror report of a run; raise VerificationError (with the report) when it failed."""
    from certlife.contracts.verification import VerificationError

    report: dict[str, Any] = {
        "ok": result.failure is None,
        "origin": trust.origin,
        "records": result.verified,
        "applied": result.applied,
        "checkpointSize": result.checkpoint_size,
        **({} if result.cosigned_by is None else {"cosignedBy": list(result.cosigned_by)}),
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
    """The ``status`` report from the mirror's row; raise VerificationError when it is not a status.

    The mirror says what it holds; ``decide_status`` (the one answer) decides:
    unknown when the mirror holds no record of the certificate
    (``certificate-not-found``), or with ``--max-age`` when the mirror's
    newest checkpoint is older or undated (``stale-checkpoint``); unavailable
    when its newest record was parked (``record-parked``, ``answer.parked``
    says which record and why).
    """
    from certlife.contracts.verification import VerificationError, parse_time
    from certlife.contracts.verification.status import (
        UNAVAILABLE,
        CheckpointRef,
        LatestRecord,
        decide_status,
    )

    number, status, parked = args.number, row["status"], None
    record = None
    if status == UNAVAILABLE:
        # An unavailable row keeps the last applied record's values: not what the answer rests on.
        record = LatestRecord(row["parked_index"], UNAVAILABLE)
        parked = {"index": row["parked_index"], "code": row["parked_code"], "message": row["parked_message"]}
    elif status is not None:
        record = LatestRecord(
            row["log_index"], status, row["seq"], row["event"], recorded_at=row["recorded_at"]
        )
    answer = decide_status(
        number,
        record,
        CheckpointRef(row["checkpoint_size"], row["checkpoint_time"]),
        now=datetime.now(UTC),
        max_age=args.max_age,
        parked=parked,
        searched=" in the mirror",
    )
    age = None
    if row["checkpoint_time"]:
        age = (answer.at - parse_time(row["checkpoint_time"])).total_seconds()
    report = {
        "ok": answer.failure is None,
        "checks": {},
        "failure": None,
        "answer": {
            **answer.to_json(),
            "checkpointAgeSeconds": None if age is None else round(age),
            "mirrorFailure": row["failure"],
        },
        "source": "mirror",
    }
    if answer.failure is not None:
        report["failure"] = answer.failure.to_json()
        error = VerificationError(answer.failure)
        error.report = report
        raise error
    return report
