"""One chaos run on a claimed private stack: set up, load + faults, settle, check, report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import time
from pathlib import Path
from typing import Any

from certlife.services.chaos import checks, faults, load, report
from certlife.services.chaos.privstack import PrivateStack
from certlife.services.chaos.recovery import recoveries
from certlife.services.chaos.replication import replication_check
from certlife.services.demo import partner, traffic
from certlife.services.demo.setup import READY, SERVICES, DemoRun
from certlife.services.infra.service_process import ServiceProcess
from certlife.services.infra.stack import kafka
from certlife.services.infra.topics import certlife_topics

#: Seconds of load before the first fault and after the last.
WARMUP, TAIL = 15.0, 10.0
#: The longest wait for a fault's recovery before the next one, and for the traffic to settle.
RECOVERY_LIMIT, SETTLE_LIMIT = 120.0, 240.0


async def _setup(stack: PrivateStack, args: argparse.Namespace) -> DemoRun:
    endpoints = await asyncio.to_thread(
        lambda: stack.up("", pg_replica=True) if args.pg_replica else stack.up("")
    )
    run = DemoRun.create(endpoints.kafka_bootstrap, endpoints.database_url, "chaos")
    await run.create_schemas()
    await asyncio.to_thread(run.provision_kafka)
    await run.migrate()
    run.generate_keys()
    (run.directory / "logs").mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run.directory / "logs" / "chaos.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])  # aiokafka's and the load's warnings
    return run


def _serve_all(run: DemoRun) -> ServiceProcess:
    """``certctl serve all`` for the three services, once each is ready."""
    logs = run.directory / "logs"
    only = ["--only", ",".join(SERVICES), "--log-dir", str(logs)]
    supervisor = ServiceProcess("all", run.env, logs, args=only).start()
    deadline = time.monotonic() + 90
    for name in SERVICES:
        while READY[name] not in _text(logs / f"{name}.log"):
            if time.monotonic() > deadline or not supervisor.running():
                supervisor.stop()
                raise RuntimeError(f"{name} did not start; see {logs}")
            time.sleep(0.2)
    return supervisor


def _text(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")
    return ""


async def _inject_all(
    injector: faults.Injector, plan: list[faults.Fault], observer: load.Observer, gap: float
) -> None:
    for fault in plan:
        print(f"chaos: {fault.name}", flush=True)
        await injector.inject(fault)
        settle = time.monotonic() + gap
        limit = time.monotonic() + RECOVERY_LIMIT
        while time.monotonic() < limit:
            recovered = recoveries([fault], observer)[0].seconds is not None
            if recovered and time.monotonic() >= settle:
                break
            await asyncio.sleep(0.5)


def _gap(args: argparse.Namespace, plan: list[faults.Fault]) -> float:
    """Seconds between one fault's end and the next, to spread the plan over ``--minutes``."""
    busy = sum(f.seconds + (35 if f.kind.endswith("kill") and f.kind != "kill" else 0) for f in plan)
    return max(8.0, (args.minutes * 60 - WARMUP - TAIL - busy) / len(plan))


async def _settle(run: DemoRun, client: dict[str, Any]) -> tuple[checks.Books, int, checks.Check]:
    """Wait until every command is answered, the log relayed and checkpointed and the read models
    caught up; what was found, the log size, and whether it settled within ``SETTLE_LIMIT``."""
    from certlife.services.demo.run import _read_models

    began = time.monotonic()
    deadline = began + SETTLE_LIMIT
    books = await checks.collect(run.settings, client)
    while not checks.one_outcome_each(books).ok and time.monotonic() < deadline:
        await asyncio.sleep(3)
        books = await checks.collect(run.settings, client)
    problems, size = [], 0
    try:
        size = await traffic.wait_relayed(run.settings, max(10.0, deadline - time.monotonic()))
        await _read_models(run, size, max(10.0, deadline - time.monotonic()))
    except RuntimeError as exc:  # the checks then say what is missing
        problems.append(str(exc))
    books = await checks.collect(run.settings, client)
    seconds = time.monotonic() - began
    settled = checks.Check(
        "the pipeline settled after the load",
        not problems,
        f"answered, relayed, checkpointed and projected {seconds:.0f} s after the load stopped"
        if not problems
        else "; ".join(problems),
        {"seconds": round(seconds, 1)},
    )
    return books, size or len(books.log), settled


async def chaos(stack: PrivateStack, args: argparse.Namespace) -> tuple[report.Report, Path]:
    """The whole run; the report and the markdown file's path."""
    run = await _setup(stack, args)
    settings = run.settings
    supervisor = await asyncio.to_thread(_serve_all, run)
    try:
        plan = faults.plan(args.full, args.brokers, args.pg_replica, args.outage, args.faults == "cluster")
        traffic_ = load.Load(settings, args.rate, seed=args.seed)
        observer = load.Observer(settings)
        stop_load, stop_watch = asyncio.Event(), asyncio.Event()
        t0 = time.time()
        sending = asyncio.create_task(traffic_.run(stop_load))
        watching = asyncio.create_task(observer.run(stop_watch))
        await asyncio.sleep(WARMUP)
        node_down = 20.0 if args.full else 10.0
        injector = faults.Injector(stack, supervisor.pid or 0, settings.topic_prefix, node_down)
        await _inject_all(injector, plan, observer, _gap(args, plan))
        await asyncio.sleep(max(TAIL, t0 + args.minutes * 60 - time.time()))
        stop_load.set()
        await sending
        print("chaos: load stopped; waiting for the pipeline to settle", flush=True)
        books, size, settled = await _settle(run, kafka.admin_access(stack.settings).client_options())
        stop_watch.set()
        await watching
        found = [settled, *await _checks(run, books, size)]
        if args.brokers > 1:  # the killed nodes are back and in sync
            names = [
                spec.name for spec in certlife_topics(settings.command_partitions, settings.topic_prefix)
            ]
            admin = kafka.admin_access(stack.settings).client_options()
            found.append(await replication_check(admin, names, args.brokers))
    finally:
        supervisor.stop()
    params = {
        "run": run.run_id, "minutes": args.minutes, "rate": args.rate, "brokers": args.brokers,
        "pg_replica": args.pg_replica, "outage": args.outage, "full": args.full, "faults": args.faults,
        "load seconds": (traffic_.sent[-1] - t0) if traffic_.sent else 0.0,
    }  # fmt: skip
    counts = {
        "messages sent": len(traffic_.sent),
        "sends Kafka did not confirm (sent again)": dict(traffic_.failures) or 0,
        "log size": size,
        "services restarted by the supervisor": _restarts(run.directory / "logs" / "all.log"),
    }
    result = report.Report(params, found, recoveries(plan, observer), t0, counts)
    return result, report.write(result, observer, traffic_.sent, args.out or run.directory / "report")


def _restarts(path: Path) -> dict[str, int]:
    """Restarts per service, from the supervisor's lines (``NAME exited (...) ...; restart N in``)."""
    found: dict[str, int] = {}
    for name, count in re.findall(r"certlife\.supervisor: (\w+) exited .*?; restart (\d+) in", _text(path)):
        found[name] = max(found.get(name, 0), int(count))
    return found


async def _checks(run: DemoRun, books: checks.Books, size: int) -> list[checks.Check]:
    order, implied = checks.log_in_order(books)
    found = [checks.one_outcome_each(books), checks.accepted_equals_events(books), order]
    steps = await asyncio.to_thread(partner.partner_steps, run, _certificate(books), None)
    found.append(_verified(steps, size))
    found.append(await checks.read_model_matches(run.settings, implied))
    total, differ = await partner.compare_statuses(run)
    detail = f"{total} certificates agree" if not differ else f"{len(differ)} differ, e.g. {differ[:5]}"
    found.append(checks.Check("partner mirror = read model", not differ, detail, {"certificates": total}))
    return found


def _certificate(books: checks.Books) -> str:
    from certlife.contracts.records import parse_record

    return next(str(r.number) for r in map(parse_record, books.log) if r.number is not None)


def _verified(steps: list[partner.Step], size: int) -> checks.Check:
    name = "certverify log over Kafka verifies every signature"
    step = next((s for s in steps if s.name.startswith("verify whole log from Kafka")), None)
    if step is None:
        failed = next((s for s in steps if not s.ok), None)
        return checks.Check(
            name, False, f"not run: {failed.name if failed else '?'} failed ({failed and failed.detail})"
        )
    data = step.data
    ok = step.ok and data.get("ok") is True and data.get("records") == size and data.get("unanchored") == 0
    detail = (
        f"{data.get('records')} records, {data.get('signatures')} signatures verified in {step.seconds:.1f} s"
    )
    return checks.Check(
        name,
        ok,
        detail if ok else f"{detail}; {step.detail}",
        {k: data.get(k) for k in ("records", "signatures", "checkpoints")},
    )
