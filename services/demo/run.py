"""Orchestrate the main job: stack, services, scenario, partner verification, summary."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg

from certlife.contracts.notes import NoteSigner
from certlife.domain.values import format_instant
from certlife.projections.queries import ReadModels
from certlife.services.demo import partner, traffic, witnesses
from certlife.services.demo.scenario import generate_commands
from certlife.services.demo.setup import DemoRun, Started
from certlife.services.relay.keystore import KeyStore

SHORT_LIVED = 6  # certificates issued to expire during the run, for the expiry sweep


def _short_lived(issuer: str, now: datetime, seconds: int) -> list[tuple[bytes, bytes]]:
    """Sample certificates valid for a few seconds, so the expiry sweep has work."""
    out = []
    for i in range(SHORT_LIVED):
        number = f"CQC-TRIAL-{now:%H%M%S}-{i:02d}"
        body = {
            "type": "issue",
            "commandId": f"demo-short-{number}",
            "issuer": issuer,
            "number": number,
            "scheme": "CQC",
            "holder": "Nordlicht Ladetechnik GmbH",
            "manufacturer": "Nordlicht Ladetechnik GmbH",
            "factories": ["Leipzig plant 1"],
            "product": "Mode 3 AC wallbox (trial lot)",
            "models": ["NL-AC22-T"],
            "standards": ["IEC 61851-1:2017"],
            "scope": "Trial lot, 22 kW AC",
            "validFrom": format_instant(now),
            "validUntil": format_instant(now + timedelta(seconds=seconds)),
        }
        out.append((number.encode(), json.dumps(body).encode()))
    return out


def _expire_due(now: datetime) -> tuple[bytes, bytes]:
    body = {"type": "expire-due", "commandId": f"demo-expire-{now:%Y%m%dT%H%M%S}", "limit": 500}
    return b"expire-due", json.dumps(body).encode()


async def _read_models(run: DemoRun, size: int, timeout: float) -> tuple[Counter[str], Counter[str]]:
    conn = await asyncpg.connect(run.settings.database_url)
    try:
        models = ReadModels(conn, f'"{run.settings.db_schema}"')
        deadline = time.monotonic() + timeout
        # Both read models: the bundle subject below is chosen from the history.
        while (
            min([(await models.position(name)).log_index for name in ("certificates", "history")]) < size - 1
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the read models did not reach index {size - 1} within {timeout:.0f}s")
            await asyncio.sleep(0.3)
        by_status: Counter[str] = Counter()
        by_scheme: Counter[str] = Counter()
        for (status, scheme), n in (await models.counts()).items():
            by_status[status] += n
            by_scheme[scheme] += n
        return by_status, by_scheme
    finally:
        await conn.close()


async def _bundle_subject(run: DemoRun) -> str:
    """A certificate with an eventful history: suspended and reinstated if there is one."""
    conn = await asyncpg.connect(run.settings.database_url)
    try:
        return str(
            await conn.fetchval(
                f'SELECT number FROM "{run.settings.db_schema}".certificate_history '
                "GROUP BY number ORDER BY bool_or(event = 'reinstated') DESC, count(*) DESC, number LIMIT 1"
            )
        )
    finally:
        await conn.close()


async def play(
    certificates: int, seed: int, timeout: float
) -> tuple[DemoRun, dict[str, object], list[Started]]:
    """Run everything; return the run, the figures for the summary, and what runs (stop it in reverse)."""
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    from certlife.services.infra.stack import resolve_endpoints

    bootstrap, database = await asyncio.to_thread(resolve_endpoints)
    run = DemoRun.create(bootstrap, database)
    await run.create_schemas()
    await asyncio.to_thread(run.provision_kafka)
    await run.migrate()
    _, keystore = run.generate_keys()
    timings["stack + keys"] = time.monotonic() - t0
    note_vkey = NoteSigner(run.settings.origin, keystore.ensure_note_key()).verifier_key()
    procs: list[Started] = []
    try:
        return await _play(run, keystore, note_vkey, procs, certificates, seed, timeout, timings, t0)
    except BaseException:
        for proc in reversed(procs):  # nothing this run started outlives a failure
            proc.stop()
        raise


async def _play(
    run: DemoRun,
    keystore: KeyStore,
    note_vkey: str,
    procs: list[Started],
    certificates: int,
    seed: int,
    timeout: float,
    timings: dict[str, float],
    t0: float,
) -> tuple[DemoRun, dict[str, object], list[Started]]:
    witnessing = await asyncio.to_thread(witnesses.start, run, note_vkey, procs)
    # One supervisor (certctl serve all's) runs the operator's services; it restarts one that dies.
    supervisor = await asyncio.to_thread(run.supervise, [witnesses.publishing(run)])
    procs.append(supervisor)
    await asyncio.to_thread(witnesses.serve_tiles, run, witnessing, supervisor)
    timings["services ready"] = time.monotonic() - t0
    settings = run.settings
    now = datetime.now(UTC).replace(microsecond=0)
    messages = _short_lived(settings.issuer, now, 8) + generate_commands(
        certificates,
        seed,
        issuer=settings.issuer,
        now=now,
        duplicates=0.03,
        conflicts=0.05,
        malformed=0.02,
    )
    new_key = keystore.generate_record_key()
    t1 = time.monotonic()
    await traffic.publish(settings, messages, lambda: traffic.queue_rotation(settings, new_key))
    await asyncio.sleep(max(0.0, (now + timedelta(seconds=9) - datetime.now(UTC)).total_seconds()))
    sweep = _expire_due(datetime.now(UTC))
    await traffic.publish(settings, [sweep], _nothing)
    outcomes = await traffic.collect_outcomes(
        settings, len(messages) + 1, traffic.command_ids([*messages, sweep]), timeout
    )
    timings["commands → outcomes"] = time.monotonic() - t1
    size = await traffic.wait_relayed(settings, timeout)
    timings["→ signed, checkpointed log"] = time.monotonic() - t1
    cosigned = await asyncio.to_thread(witnessing.wait_cosigned, size, timeout)
    timings["→ cosigned by both witnesses"] = time.monotonic() - t1
    by_status, by_scheme = await _read_models(run, size, timeout)
    timings["→ read models"] = time.monotonic() - t1
    number = await _bundle_subject(run)
    steps = partner.partner_steps(run, number, witnessing)  # writes trust.json, which the API serves
    total, differ = await partner.compare_statuses(run)
    try:
        lookup = await asyncio.to_thread(run.start_api, supervisor)
        api_check = await lookup_check(run, lookup, number)
    except RuntimeError:  # the API did not start: the summary says so, the supervisor retries
        api = supervisor.procs.get("api")
        lookup, api_check = "", (False, "did not start: " + (api.last_line() if api else "?"))
    figures: dict[str, object] = {
        "commands": len(messages) + 1,
        "outcomes": outcomes,
        "log size": size,
        "by status": by_status,
        "by scheme": by_scheme,
        "steps": steps,
        "certificates": total,
        "status mismatches": differ,
        "bundle certificate": number,
        "witnesses": witnessing.vkeys,
        "cosigned by": cosigned,
        "tiles url": witnessing.tiles_url,
        "lookup url": lookup,
        "lookup check": api_check,
        "timings": timings,
    }
    return run, figures, procs


async def lookup_check(run: DemoRun, url: str, number: str) -> tuple[bool, str]:
    """The API answers ``number`` with the read model's status; (ok, what was seen)."""
    import httpx

    conn = await asyncpg.connect(run.settings.database_url)
    try:
        expected = await conn.fetchval(
            f'SELECT status FROM "{run.settings.db_schema}".certificates WHERE number = $1', number
        )
    finally:
        await conn.close()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(f"{url}v1/certificates/{number}", params={"proof": "1"})
        status = answer.json().get("status") if answer.status_code == 200 else None
        has_proof = answer.status_code == 200 and "proof" in answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        return False, f"no answer: {exc!r}"
    seen = f"HTTP {answer.status_code}, status {status}, read model {expected}, proof {has_proof}"
    return status == expected and has_proof, seen


async def _nothing() -> None:
    return None
