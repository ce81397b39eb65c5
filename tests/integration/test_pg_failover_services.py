"""The services through a PostgreSQL failover: command service, relay and projections under
``certctl serve all`` on the multi-host URL of a private primary + synchronous replica; the
primary is SIGKILLed while commands flow and the replica promoted. Afterwards every command has
exactly one outcome, the log holds every accepted command once, in order, and verifies, and the
read models caught up: nothing acknowledged was lost, and the services went on with the promoted
server (restarted by the supervisor where they exited).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from certlife.contracts import topics
from certlife.services.infra import stack
from certlife.services.infra.stack import StackSettings
from tests.integration.logcheck import check_log
from tests.integration.pg_replica_harness import kill_primary, private_env, run_replicated
from tests.integration.test_projections import wait_applied
from tests.integration.test_relay import certctl, lifecycle_commands, stack_env, trust_of
from tests.integration.test_tracing import messages
from tests.kafka import client
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration

SERVICES = ("commands", "relay", "projections")
COUNT = 30  # certificates; five rounds of commands each


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    """The module's private primary + replica (the shared PostgreSQL is never touched)."""
    env = private_env(tmp_path_factory.mktemp("pg-replica-services"))
    runner = run_replicated(env)
    try:
        next(runner)
    except stack.StackError as exc:  # a failure, never a skip
        pytest.fail(f"the private PostgreSQL primary + replica did not start: {exc}", pytrace=False)
    yield StackSettings.from_env(env)
    next(runner, None)


async def send(bootstrap: str, topic: str, bodies: list[bytes], pace: float = 0.0) -> None:
    """Produce ``bodies`` one by one, ``pace`` seconds apart."""
    producer = AIOKafkaProducer(**client(bootstrap))
    await producer.start()
    try:
        for body in bodies:
            await producer.send_and_wait(topic, body)
            await asyncio.sleep(pace)
    finally:
        await producer.stop()


async def test_the_services_go_on_with_the_promoted_replica_and_lose_nothing(
    pair: StackSettings, kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    url = pair.database_url  # both servers, target_session_attrs=read-write
    schema = "failover"
    conn = await asyncpg.connect(url)
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.close()
    prefix = unique_name("pgfo") + "."
    env = stack_env(kafka_bootstrap, url, schema, prefix, tmp_path / "keys")
    assert certctl(env, "keys", "generate").returncode == 0
    logs = tmp_path / "logs"
    supervisor = ServiceProcess(
        "all", env, tmp_path, args=("--only", ",".join(SERVICES), "--log-dir", str(logs))
    ).start()
    rounds = lifecycle_commands(0, COUNT)
    commands, results = prefix + topics.COMMANDS, prefix + topics.COMMAND_RESULTS
    try:
        await send(kafka_bootstrap, commands, rounds[0])
        await messages(kafka_bootstrap, results, COUNT, timeout=180)
        sending = asyncio.create_task(send(kafka_bootstrap, commands, rounds[1], pace=0.05))
        await asyncio.sleep(0.8)  # commands in flight when the primary dies
        killed = time.monotonic()
        kill_primary(pair)
        await asyncio.to_thread(stack.promote, pair)
        promoted = time.monotonic() - killed
        await sending
        await messages(kafka_bootstrap, results, 2 * COUNT, timeout=180)
        recovered = time.monotonic() - killed
        for done, round_ in enumerate(rounds[2:], 3):  # each round after the previous one's outcomes
            await send(kafka_bootstrap, commands, round_)
            await messages(kafka_bootstrap, results, done * COUNT, timeout=180)
        await send(kafka_bootstrap, commands, rounds[0][:5])  # exact re-sends: the original outcomes
        found = await messages(kafka_bootstrap, results, 5 * COUNT + 5, timeout=180)
        per_command: dict[bytes, set[bytes]] = {}
        for value, headers in found:
            per_command.setdefault(headers["certlife-command-id"], set()).add(value)
        assert len(per_command) == 5 * COUNT and all(len(v) == 1 for v in per_command.values())
        other = [v for v in per_command.values() if json.loads(next(iter(v)))["status"] != "accepted"]
        assert not other, other
        trust = trust_of(env)
        await wait_applied(env, 5 * COUNT - 1, 0, timeout=180)
    finally:
        supervisor.stop()
    report = await check_log(kafka_bootstrap, prefix, trust)
    assert report.size == 5 * COUNT  # every accepted command once, in order, signatures verified
    texts = {name: (logs / f"{name}.log").read_text(errors="replace") for name in SERVICES}
    for name, text in texts.items():
        assert "Traceback" not in text, (name, text[-3000:])
    exits = [
        line for line in supervisor.log_text().splitlines() if " exited " in line or "cannot start" in line
    ]
    print(
        f"\nfailover under certctl serve all: SIGKILL of the primary while commands flow, promote done "
        f"{promoted:.1f} s after it, every outcome of that round {recovered:.1f} s after it; {5 * COUNT} commands, one outcome each, "
        f"log of {report.size} records verified, read models caught up; supervisor: {exits}"
    )
