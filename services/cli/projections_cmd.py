"""``certctl projections status|rebuild`` and ``certctl status NUMBER``.

``projections status`` also lists what each generation parked (records it
could not apply, ``certlife.projections.parking``): the count and the lowest indexes
with their reasons. ``status NUMBER`` answers ``unavailable`` (exit 1, like
``unknown``) for a certificate whose newest record is parked.

Connections go through the composition root's connectors
(``certlife.services.bootstrap``); the read-model functions are handed a session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from certlife.services.cli.base import EXIT_FAILED, EXIT_OK, CliError, certificate_number
from certlife.services.infra.settings import Settings

if TYPE_CHECKING:
    from certlife.contracts.verification.status import StatusAnswer
    from certlife.projections.config import ProjectionConfig
    from certlife.projections.rebuild import RebuildResult
    from certlife.projections.status import ProjectionStatus

T = TypeVar("T")

#: ``certctl status`` exits with this when the certificate is unknown or unavailable in the read model.
EXIT_UNKNOWN = 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``projections`` group and the ``status`` command."""
    group = sub.add_parser("projections", help="inspect and rebuild the internal read models")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "status", help="each projection's generation, index, checkpoint, lag and parked records"
    )
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=_status_of_projections)
    rebuild = actions.add_parser("rebuild", help="build a fresh copy from offset 0 and swap it in")
    rebuild.add_argument("name", help="projection name (certificates, history)")
    rebuild.add_argument("--json", action="store_true", help="print one JSON object")
    rebuild.set_defaults(handler=_rebuild)

    status = sub.add_parser("status", help="a certificate's status from the internal read model")
    status.add_argument("number", help="certificate number", type=certificate_number)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_certificate_status)


def _config(settings: Settings) -> ProjectionConfig:
    from certlife.services.bootstrap import projection_config

    return projection_config(settings)


async def _statuses(settings: Settings) -> list[ProjectionStatus]:
    """The topics' end offsets first (an unreachable broker is reported as such), then the read models."""
    from certlife.projections.status import end_offsets, projection_status
    from certlife.services import bootstrap

    config = _config(settings)
    ends = await end_offsets(config, bootstrap.kafka_connector(settings).consumer)
    conn = await bootstrap.postgres_connector(settings).connect()
    try:
        return await projection_status(config, conn, ends)
    finally:
        await conn.close()


def _status_of_projections(args: argparse.Namespace) -> int:
    from certlife.projections.parking import printable

    rows = [s.to_json() for s in _run(_statuses(Settings.from_env()))]
    if args.json:
        print(json.dumps({"projections": rows}, indent=2))
        return EXIT_OK
    print(f"{'projection':<14}{'gen':>4} {'live':<5}{'index':>9}{'checkpoint':>11}{'parked':>8}  lag")
    for r in rows:
        lag = ", ".join(f"{k}={v}" for k, v in r["lag"].items())
        print(
            f"{r['name']:<14}{r['generation']:>4} {'yes' if r['live'] else 'no':<5}"
            f"{_dash(r['index']):>9}{_dash(r['checkpoint']):>11}{r['parked']['count']:>8}  {lag}"
        )
    for r in rows:
        parked = r["parked"]
        for entry in parked["records"]:
            number = f" certificate {printable(entry['certificate'])}" if entry["certificate"] else ""
            print(
                f"  {r['name']} g{r['generation']}: parked index {entry['index']}{number}: "
                f"{entry['code']}: {entry['message']}"
            )
        if parked["count"] > len(parked["records"]):
            print(f"  {r['name']} g{r['generation']}: ... {parked['count']} parked in total")
    return EXIT_OK


async def _rebuilt(settings: Settings, name: str) -> RebuildResult:
    from certlife.projections.rebuild import rebuild
    from certlife.services import bootstrap

    conn = await bootstrap.postgres_connector(settings).connect()
    try:
        return await rebuild(_config(settings), name, conn, bootstrap.kafka_connector(settings).consumer)
    finally:
        await conn.close()


def _rebuild(args: argparse.Namespace) -> int:
    result = _run(_rebuilt(Settings.from_env(), args.name))
    summary = {
        "name": result.name,
        "oldGeneration": result.old_generation,
        "generation": result.generation,
        "index": result.log_index,
        "records": result.records,
        "parked": result.parked,
        "bulkSeconds": round(result.bulk_seconds, 3),
        "swapSeconds": round(result.swap_seconds, 3),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"rebuilt {result.name}: generation {result.old_generation} -> {result.generation}, "
            f"{result.records} records up to index {result.log_index}, {result.parked} parked "
            f"({result.bulk_seconds:.2f}s bulk, {result.swap_seconds:.2f}s swap)"
        )
    return EXIT_OK


def _certificate_status(args: argparse.Namespace) -> int:
    from certlife.contracts.verification.status import NOT_A_STATUS
    from certlife.projections.answer import read_model_json

    answer = _run(_answer(args.number))
    data = read_model_json(answer)
    if args.json:
        print(json.dumps(data))
    else:
        line = f"{data['number']}: {data['status']}"
        if data["status"] == "unavailable":
            line += f" (index {data['index']}, checkpoint {_dash(data['checkpoint'])})"
        elif data["index"] is not None:
            line += (
                f" (index {data['index']}, checkpoint {_dash(data['checkpoint'])}, "
                f"recorded {data['recordedAt']}, age {data['ageSeconds']:.0f}s)"
            )
        if "note" in data:
            line += f" - {data['note']}"
        print(line)
    return EXIT_UNKNOWN if answer.status in NOT_A_STATUS else EXIT_OK


async def _answer(number: str) -> StatusAnswer:
    from certlife.projections.queries import ReadModels
    from certlife.services import bootstrap

    settings = Settings.from_env()
    config = _config(settings)
    conn = await bootstrap.postgres_connector(settings).connect()
    try:
        return await ReadModels(conn, config.schema_sql).status(number, datetime.now(UTC))
    finally:
        await conn.close()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; read-model and database errors become one line."""
    import asyncpg
    from aiokafka.errors import KafkaError

    from certlife.projections.errors import ProjectionError

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # failures become the one line below
    try:
        return asyncio.run(coro)
    except ProjectionError as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    except LookupError as exc:
        raise CliError(
            f"read model not initialised: {exc} (is `certctl serve projections` running?)", EXIT_FAILED
        ) from None
    except (OSError, asyncpg.PostgresError) as exc:
        raise CliError(f"cannot reach the read models: {exc}", EXIT_FAILED) from None
    except KafkaError as exc:
        raise CliError(f"cannot reach Kafka for the log's end offsets: {exc}", EXIT_FAILED) from None


def _dash(value: object) -> str:
    return "-" if value is None else str(value)
