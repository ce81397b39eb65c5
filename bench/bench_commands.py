"""Command-service throughput: batched transactions against one command per transaction.

``python -m bench.bench_commands --commands 5000`` runs ``certctl serve commands``
as a subprocess twice on the configured Kafka and PostgreSQL (the local stack by
default), each time with its own topic prefix and event-store schema: once with
the default batching and once with ``CERTLIFE_BATCH_MAX_RECORDS=1``. Each time, after
one warm-up command, the service is stopped (SIGSTOP), the same scenario traffic
(``certlife.services.demo.scenario``) is published, and the clock runs from letting the
service go on (SIGCONT) to the last outcome read (read committed): a figure is commands
per second drained from a backlog through Kafka, the event store and the transactional
outcome publish, as the relay and projection benchmarks drain theirs: publishing the
commands takes no CPU from the service on the shared cores (the benchmark's reading of
the outcomes still does). The service runs as the workload's issuer, so
the commands are decided (issued, suspended, renewed, ...), not refused as
``unknown-issuer``; each run prints its accepted and rejected outcomes and
stops if fewer than 80 % were accepted. With ``--rounds R`` the batched run is
repeated R times (each on its own topics and schema) and the figure is the median
run (one run swings by a fifth with the other load on the machine; ``./dev bench``
uses 5 runs of 20,000 commands, about 5 s each). With
``--single-limit L`` the one-per-transaction run takes a scenario of L commands made
the same way (:func:`single_workload`), not the first L of the batched runs'
commands, which start with the issues: the two runs then decide the same mix.
Issue 12's target: batched at least 50 times one transaction per command. With
``CERTLIFE_BENCH_PROFILE=DIR`` the batched service is recorded with py-spy
(``DIR/commands.txt``; summarise with
``python -m bench.profile``); with ``BENCH_SERVICE_LOG=DEBUG`` the service logs each batch
(size, age of its oldest command when the worker took it, decide, store and publish times) to the run's
log file in the temporary directory, which is kept (without it, a run's log is removed unless the run
failed). After the batched run, ``--probes`` commands are sent one at a time to the idle service,
``--probe-gap`` ms apart on average (at random phases of its poll loop), and timed from publish to
outcome (latency at low load: work, not waits).

Then, with ``--side-by-side N`` (default: one per core), N services run side by side, each on
topics and an event-store schema of its own, each draining ``1/N`` of the commands (the same mix):
``--rounds`` times batched, once one per transaction (``1/N`` of that run's commands each). They
share nothing but the machine and the stack's servers, so their figure is about the most that a layout of
the command service on N processes could reach (such a layout would share one event store and
coordinate: the expiry index and the command receipts are common to all certificates). It is
printed against the one-service one-per-transaction run, and against N one-per-transaction services
side by side (the same layout without batching).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import Figure, endpoints, median, percentile, profile, report
from bench.cputime import cpu_snapshot, cpu_us_per_item, stack_holders, tree_cpu_seconds
from certlife.contracts import topics
from certlife.projections.committed import committed_consumer
from certlife.services.demo.scenario import generate_commands
from certlife.services.infra.service_process import die_with_parent
from certlife.services.infra.settings import Settings
from certlife.services.infra.stack import provision_if_local
from certlife.services.infra.topics import certlife_topics, ensure_topics

ROOT = Path(__file__).resolve().parent.parent
#: Issuer of the workload's certificates, and so of the measured service.
ISSUER = "bench.example"
#: Issue 12's target: batched commands/s at least this many times one transaction per command.
TARGET = 50.0
#: Below this share of accepted outcomes a run measures refusals, not decisions.
MIN_ACCEPTED = 0.8
#: Longest the service may stay stopped while its backlog is published (seconds): below the
#: consumer's session timeout and the service's 10 s database lock check.
MAX_STOPPED = 8.0


@dataclass(frozen=True)
class Result:
    """One measured run."""

    label: str
    commands: int
    seconds: float
    #: Outcomes by status (``accepted``, ``rejected``).
    statuses: Counter[str]
    #: Publish -> outcome of each probe command sent alone, after the throughput run (seconds).
    latencies: list[float]
    #: CPU seconds the service process took over the measured run (user + system).
    cpu_seconds: float = 0.0
    #: CPU microseconds per command of the stack's servers found over the measured run ("postgres" with
    #: its backends, "kafka").
    server_us: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Commands per second, from letting the stopped service go on to its last outcome."""
        return self.commands / self.seconds

    @property
    def cpu_us(self) -> float:
        """The service's CPU microseconds per command."""
        return 1e6 * self.cpu_seconds / self.commands


def workload(n: int, seed: int) -> list[tuple[bytes, bytes]]:
    """``n`` scenario commands (issue-heavy lifecycle traffic, a few duplicates and conflicts)."""
    messages = generate_commands(
        n // 2 + 10, seed, issuer=ISSUER, now=datetime.now(UTC), duplicates=0.05, conflicts=0.05
    )
    if len(messages) < n:
        raise SystemExit(f"scenario produced only {len(messages)} commands")
    return messages[:n]


def single_workload(
    messages: list[tuple[bytes, bytes]], limit: int | None, seed: int
) -> list[tuple[bytes, bytes]]:
    """The one-per-transaction run's commands: ``messages``, or with a smaller ``limit`` a scenario
    of ``limit`` commands of the same mix (the first ``limit`` of ``messages`` are mostly issues)."""
    if limit is None or limit >= len(messages):
        return messages
    return workload(limit, seed)


async def _run_sql(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class _Service:
    """One ``certctl serve commands`` subprocess on topics and an event-store schema of its own."""

    prefix: str
    schema: str
    proc: subprocess.Popen[bytes]
    log: Path
    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    #: The probes' own producer sends at once: the throughput producer's linger counted in each probe.
    prober: AIOKafkaProducer
    #: py-spy recording the service (:func:`_drain`), until :func:`_stop` ends it.
    spy: subprocess.Popen[bytes] | None = None


@dataclass(frozen=True)
class _Drained:
    """One timed drain of a backlog by one or more services (:func:`_drain`)."""

    seconds: float
    statuses: Counter[str]
    #: CPU seconds the services took (each with its descendants), summed.
    cpu_seconds: float
    #: CPU microseconds per command of the stack's servers (see ``Result.server_us``).
    server_us: dict[str, int]


async def _start(settings: Settings, extra: dict[str, str]) -> _Service:
    """Create a service's schema and topics, start it and put one warm-up command through it, so
    start-up is not measured. Its schema and topics are removed by :func:`_stop`."""
    token = uuid.uuid4().hex[:8]
    prefix, schema = f"bench{token}.", f"bench_{token}"
    await _run_sql(settings.database_url, f'CREATE SCHEMA "{schema}"')
    await ensure_topics(settings.kafka, certlife_topics(settings.command_partitions, prefix))
    await asyncio.to_thread(provision_if_local, settings.kafka_bootstrap, prefix)  # the service's principal
    env = {
        **os.environ,
        "CERTLIFE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CERTLIFE_DATABASE_URL": settings.database_url,
        "CERTLIFE_DB_SCHEMA": schema,
        "CERTLIFE_TOPIC_PREFIX": prefix,
        "CERTLIFE_ISSUER": ISSUER,
        **extra,
    }
    log = Path(tempfile.gettempdir()) / f"certlife-bench-{token}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "certlife.services.cli.certctl",
                "serve",
                "commands",
                "--log-level",
                os.environ.get("BENCH_SERVICE_LOG", "WARNING"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(signal.SIGKILL),  # a stopped benchmark leaves no service behind
        )
    service = _Service(
        prefix,
        schema,
        proc,
        log,
        committed_consumer(
            settings.kafka.client_options(), prefix + topics.COMMAND_RESULTS, auto_offset_reset="earliest"
        ),
        AIOKafkaProducer(**settings.kafka.client_options(), acks="all", linger_ms=5),
        AIOKafkaProducer(**settings.kafka.client_options(), acks="all"),
    )
    try:
        await service.consumer.start()
        await service.producer.start()
        await service.prober.start()
        await service.producer.send_and_wait(
            prefix + topics.COMMANDS, b'{"type":"expire-due","commandId":"warm-up"}'
        )
        await _collect(service.consumer, 1, proc, log, timeout=120)
    except BaseException:
        await _stop(settings, service, keep_log=True)
        raise
    return service


async def _stop(settings: Settings, service: _Service, keep_log: bool) -> None:
    """Kill the service and remove its schema and topics (and its log unless ``keep_log``)."""
    service.proc.kill()
    service.proc.wait()
    if service.spy is not None:
        service.spy.wait()  # py-spy ends with the process it records
    if not keep_log:
        service.log.unlink(missing_ok=True)
    await service.producer.stop()
    await service.prober.stop()
    await service.consumer.stop()
    await _run_sql(settings.database_url, f'DROP SCHEMA "{service.schema}" CASCADE')
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        await admin.delete_topics([s.name for s in certlife_topics(1, service.prefix)])
    finally:
        await admin.close()


async def _drain(
    services: list[_Service], messages: list[tuple[bytes, bytes]], profile_as: str | None = None
) -> _Drained:
    """Stop the services (SIGSTOP), publish ``messages`` to each, and time from letting them all go
    on (SIGCONT) to the last outcome of the last one: publishing takes no CPU from the services on
    the shared cores. With ``profile_as``, py-spy records the first from when it goes on (until it is
    stopped)."""
    servers = stack_holders({})  # the stack's broker and PostgreSQL server, when local
    for service in services:
        service.proc.send_signal(signal.SIGSTOP)
    stopped = time.perf_counter()
    try:
        for service in services:
            for key, value in messages:
                await service.producer.send(service.prefix + topics.COMMANDS, value, key=key)
            await service.producer.flush()
    except BaseException:
        for service in services:
            service.proc.send_signal(signal.SIGCONT)
        raise
    servers_before = cpu_snapshot(servers)
    cpu_before = [tree_cpu_seconds(s.proc.pid) for s in services]
    started = time.perf_counter()
    for service in services:
        service.proc.send_signal(signal.SIGCONT)
    if started - stopped > MAX_STOPPED:  # a consumer session or database lock check may have lapsed
        raise SystemExit(
            f"publishing {len(services) * len(messages):,} commands kept a service stopped "
            f"{started - stopped:.1f} s (at most {MAX_STOPPED:g} s: it may have left its consumer group); "
            "run fewer commands"
        )
    if profile_as:
        services[0].spy = profile(services[0].proc.pid, profile_as)
    counted = await asyncio.gather(
        *(_collect(s.consumer, len(messages), s.proc, s.log, timeout=3600) for s in services)
    )
    seconds = time.perf_counter() - started
    cpu = sum(tree_cpu_seconds(s.proc.pid) - before for s, before in zip(services, cpu_before, strict=True))
    servers_used = cpu_us_per_item(servers_before, cpu_snapshot(servers), len(services) * len(messages))
    return _Drained(seconds, sum(counted, Counter()), cpu, servers_used)


async def measure(
    settings: Settings,
    label: str,
    messages: list[tuple[bytes, bytes]],
    extra: dict[str, str],
    profile_as: str | None = None,
    probes: list[tuple[bytes, bytes]] | None = None,
    probe_gap: float = 0.1,
    count: int = 1,
) -> Result:
    """Run ``count`` service subprocesses side by side, each on its own topics and schema, publish
    ``messages`` to each while they are stopped and time them from letting them go on to the last
    outcome (with several, the same commands decided in separate event stores: they share nothing
    but the machine and the stack's servers, so no layout of the service on ``count`` processes,
    which would have to share an event store and coordinate, can decide faster); then, with the
    first service idle, publish each of ``probes`` alone (about ``probe_gap`` seconds apart) and
    time it to its outcome.

    With ``profile_as``, py-spy records the first service from when it goes on (see
    ``bench.common.profile``).
    """
    services: list[_Service] = []
    keep_log = True  # for a failed run (its error shows the tail); a run's debug log is kept too
    try:
        for _ in range(count):
            services.append(await _start(settings, extra))
        drained = await _drain(services, messages, profile_as)
        first = services[0]
        latencies = []
        for key, value in probes or ():
            await asyncio.sleep(probe_gap * random.uniform(0.5, 1.5))  # arrive at any phase of the poll loop
            sent = time.perf_counter()
            await first.prober.send_and_wait(first.prefix + topics.COMMANDS, value, key=key)
            await _collect(first.consumer, 1, first.proc, first.log, timeout=60)
            latencies.append(time.perf_counter() - sent)
        keep_log = bool(os.environ.get("BENCH_SERVICE_LOG"))
        return Result(
            label, count * len(messages), drained.seconds, drained.statuses, latencies,
            drained.cpu_seconds, drained.server_us,
        )  # fmt: skip
    finally:
        for service in services:
            await _stop(settings, service, keep_log)


async def _collect(
    consumer: AIOKafkaConsumer, count: int, proc: subprocess.Popen[bytes], log: Path, timeout: float
) -> Counter[str]:
    """Read ``count`` outcomes; their statuses."""
    deadline = time.monotonic() + timeout
    statuses: Counter[str] = Counter()
    seen = 0
    while seen < count:
        batches = await consumer.getmany(timeout_ms=200)
        for records in batches.values():
            statuses.update(orjson.loads(r.value)["status"] for r in records if r.value)
            seen += len(records)
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SystemExit(f"service stopped or timed out after {seen}/{count} outcomes:\n{tail}")
    return statuses


def _decided(result: Result) -> str:
    """``accepted N, rejected M``; stops the benchmark when the service mostly refused the commands."""
    accepted = result.statuses["accepted"]
    if accepted < MIN_ACCEPTED * result.commands:
        raise SystemExit(
            f"{result.label}: only {accepted} of {result.commands} commands accepted "
            f"({dict(result.statuses)}): the run measured refusals, not decisions"
        )
    return ", ".join(f"{status} {n}" for status, n in sorted(result.statuses.items()))


def _round_label(label: str, run: int, rounds: int) -> str:
    """``label``, with the run's number (from 1) when there are several rounds."""
    return label if rounds == 1 else f"{label}, run {run + 1}"


def _median_run(runs: list[Result], label: str) -> Result:
    """The run of median rate (the lower middle one of an even count), labelled ``label``."""
    middle = sorted(runs, key=lambda r: r.rate)[(len(runs) - 1) // 2]
    return replace(middle, label=label)


async def main_async(
    n: int,
    seed: int,
    single_limit: int | None,
    probes: int,
    probe_gap_ms: float,
    out: Path | None,
    rounds: int = 1,
    side_by_side: int = 0,
) -> None:
    """Run both measurements and print them with their ratio and the target."""
    bootstrap, database = await asyncio.to_thread(endpoints)  # starts the local stack if needed
    settings = Settings.from_env(
        dict(os.environ, CERTLIFE_KAFKA_BOOTSTRAP=bootstrap, CERTLIFE_DATABASE_URL=database)
    )
    messages = workload(n, seed)
    label = f"batched (CERTLIFE_BATCH_MAX_RECORDS {settings.batch_max_records})"
    runs = [
        await measure(
            settings,
            _round_label(label, run, rounds),
            messages,
            {},
            profile_as="commands" if run == 0 else None,
            probes=workload(probes, seed + 1) if probes and run == 0 else None,
            probe_gap=probe_gap_ms / 1000,
        )
        for run in range(rounds)
    ]
    batched = _median_run(runs, label)
    single_msgs = single_workload(messages, single_limit, seed)
    single = await measure(
        settings,
        "one per transaction (CERTLIFE_BATCH_MAX_RECORDS=1)",
        single_msgs,
        {"CERTLIFE_BATCH_MAX_RECORDS": "1"},
    )
    beside = await _side_by_side(settings, n, len(single_msgs), seed, rounds, side_by_side)
    for r in [*runs, single, *([*beside.runs, beside.single] if beside else [])]:
        print(f"{r.label:<52} {r.commands:>6} commands in {r.seconds:7.2f} s = {r.rate:8.1f} commands/s")
    figure = Figure(
        "command service batched",
        batched.rate,
        "commands/s",
        "one transaction per command",
        single.rate,
        target=TARGET,
    )
    cpu_us = median([r.cpu_us for r in runs])
    extra: dict[str, object] = {
        "batched runs (commands/s; the figure is their median)": ", ".join(f"{r.rate:,.0f}" for r in runs),
        "outcomes batched": "; ".join(_decided(r) for r in runs),
        "outcomes one per transaction": _decided(single),
        "service CPU us per command, batched / one per transaction": (
            f"{cpu_us:,.0f} / {single.cpu_us:,.0f}"
        ),
        # The service decides, stores and publishes in one process, almost all of it under one GIL.
        "batched ratio if the service used one full core at its median batched CPU per command": (
            f"{1e6 / cpu_us / single.rate:.1f}" if cpu_us > 0 else "n/a (no CPU time read)"
        ),
    }
    pg_us, kafka_us = (median([r.server_us.get(name, 0) for r in runs]) for name in ("postgres", "kafka"))
    every = _machine_us(extra, "batched", cpu_us, pg_us, kafka_us)
    if every:
        # What no design on these cores could pass at this CPU per command, the service on as many
        # processes as it likes: the machine's cores all busy with the service and its servers.
        extra[f"batched ratio if all {os.cpu_count()} cores were the service's and its servers'"] = (
            f"{(os.cpu_count() or 1) * 1e6 / every / single.rate:.1f}"
        )
    # The baseline swings between runs with the broker's CPU per transaction (3 to 9 ms measured).
    _machine_us(
        extra,
        "one per transaction",
        single.cpu_us,
        single.server_us.get("postgres", 0),
        single.server_us.get("kafka", 0),
    )
    if runs[0].latencies:
        ms = [1000 * x for x in runs[0].latencies]
        extra["lone command publish -> outcome (service idle)"] = (
            f"p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
            f"{len(ms)} commands one at a time, {probe_gap_ms:g} ms apart on average"
        )
    figures = [figure, *_side_by_side_figures(beside, single, extra)]
    report(
        f"command service, {n:,} commands (one per transaction: {len(single_msgs):,})", figures, extra, out
    )


def _machine_us(extra: dict[str, object], run: str, service: float, postgres: float, kafka: float) -> float:
    """Add the machine's CPU microseconds per command of ``run`` (service + PostgreSQL + Kafka) to
    ``extra`` and return their sum; 0, adding nothing, when a server's CPU was not read."""
    if postgres <= 0 or kafka <= 0:
        return 0.0
    every = service + postgres + kafka
    extra[f"machine CPU us per command {run}: service + PostgreSQL + Kafka"] = (
        f"{service:,.0f} + {postgres:,.0f} + {kafka:,.0f} = {every:,.0f}"
    )
    return every


@dataclass(frozen=True)
class _SideBySide:
    """The runs of :func:`_side_by_side`."""

    #: The batched runs' label, without their numbers.
    label: str
    runs: list[Result]
    #: The one-command-per-transaction run.
    single: Result


async def _side_by_side(
    settings: Settings, n: int, single_n: int, seed: int, rounds: int, count: int
) -> _SideBySide | None:
    """With ``count`` of at least 2: ``rounds`` batched runs of ``count`` services side by side, each
    draining ``n // count`` commands, then one such run one command per transaction (``single_n //
    count`` each). None otherwise."""
    if count < 2:
        return None
    label = f"{count} services side by side, batched"
    share = workload(n // count, seed)
    runs = [
        await measure(settings, _round_label(label, run, rounds), share, {}, count=count)
        for run in range(rounds)
    ]
    single = await measure(
        settings,
        f"{count} side by side, one per transaction",
        workload(single_n // count, seed),
        {"CERTLIFE_BATCH_MAX_RECORDS": "1"},
        count=count,
    )
    return _SideBySide(label, runs, single)


def _side_by_side_figures(
    beside: _SideBySide | None, single: Result, extra: dict[str, object]
) -> list[Figure]:
    """The side-by-side runs' figures (the median batched run against both baselines), and their
    details added to ``extra``."""
    if beside is None:
        return []
    runs, pair_single = beside.runs, beside.single
    batched = _median_run(runs, beside.label)
    extra[f"{batched.label} runs (commands/s; the figure is their median)"] = ", ".join(
        f"{r.rate:,.0f}" for r in runs
    )
    extra[f"outcomes {batched.label}"] = "; ".join(_decided(r) for r in runs)
    extra[f"outcomes {pair_single.label}"] = _decided(pair_single)
    extra[f"service CPU us per command, {batched.label} / one per transaction"] = (
        f"{median([r.cpu_us for r in runs]):,.0f} / {pair_single.cpu_us:,.0f}"
    )
    return [
        Figure(
            batched.label, batched.rate, "commands/s", "one service, one transaction per command", single.rate
        ),
        Figure(batched.label, batched.rate, "commands/s", pair_single.label, pair_single.rate),
    ]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.bench_commands``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_commands", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--commands", type=int, default=5000, help="commands per run (default 5000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--single-limit",
        type=int,
        help="run one per transaction on a scenario of this many commands (same mix), not on all",
    )
    parser.add_argument(
        "--probes",
        type=int,
        default=50,
        help="commands then sent one at a time to the idle service (latency)",
    )
    parser.add_argument("--probe-gap", type=float, default=100, help="mean ms between two probe commands")
    parser.add_argument(
        "--rounds", type=int, default=1, help="batched runs; the figure is their median (default 1)"
    )
    parser.add_argument(
        "--side-by-side",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="then run N services side by side, batched and one per transaction (default: one per core; "
        "below 2: not)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    asyncio.run(
        main_async(
            args.commands,
            args.seed,
            args.single_limit,
            args.probes,
            args.probe_gap,
            args.json,
            args.rounds,
            args.side_by_side,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
