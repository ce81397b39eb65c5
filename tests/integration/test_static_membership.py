"""A command service or projections process restarted after SIGKILL gets its partitions back at once.

With a static group membership id (``CERTLIFE_GROUP_INSTANCE_ID``, which
``certctl serve all`` sets for its children), the group coordinator hands the
restarted process the dead one's assignment as soon as it rejoins; with dynamic
membership it first waits out the dead member's session (``session.timeout.ms``).
Each test prints both recovery times, measured in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from certlife.contracts import topics
from tests.integration.test_relay import lifecycle_commands, stack_env
from tests.integration.test_tracing import messages
from tests.kafka import client
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration

#: The consumers' session timeout (aiokafka's default): what dynamic membership waits out.
SESSION_SECONDS = 10.0


async def _send(bootstrap: str, topic: str, commands: list[bytes]) -> None:
    producer = AIOKafkaProducer(**client(bootstrap))
    await producer.start()
    try:
        for body in commands:
            await producer.send_and_wait(topic, body, key=body[-20:])
    finally:
        await producer.stop()


async def _restart_time(
    env: dict[str, str], tmp_path: Path, bootstrap: str, prefix: str, start: int
) -> float:
    """Seconds from a SIGKILL of the command service to the first outcome of its restarted process.

    It handles two new certificates' issue commands (numbers ``start`` and ``start + 1``); the
    outcomes topic already holds ``start`` outcomes.
    """
    first_cmd, second_cmd = lifecycle_commands(start, 2)[0]
    first = ServiceProcess("commands", env, tmp_path, f"-{start}-1").start()
    first.wait_for_log("metrics on http://", 60)
    await _send(bootstrap, prefix + topics.COMMANDS, [first_cmd])
    await messages(bootstrap, prefix + topics.COMMAND_RESULTS, start + 1)
    first.kill()
    killed = time.monotonic()
    second = ServiceProcess("commands", env, tmp_path, f"-{start}-2").start()
    await _send(bootstrap, prefix + topics.COMMANDS, [second_cmd])
    await messages(bootstrap, prefix + topics.COMMAND_RESULTS, start + 2, timeout=90)
    elapsed = time.monotonic() - killed
    second.stop()  # leaves the group cleanly: the next measurement starts from an empty group
    return elapsed


async def test_a_killed_command_service_restarted_with_its_static_id_answers_before_the_session_ends(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    prefix = unique_name("static") + "."
    env = stack_env(kafka_bootstrap, database_url, pg_schema, prefix, tmp_path / "keys")
    dynamic = await _restart_time(env, tmp_path, kafka_bootstrap, prefix, 0)
    static_env = dict(env, CERTLIFE_GROUP_INSTANCE_ID="test-host-commands")
    static = await _restart_time(static_env, tmp_path, kafka_bootstrap, prefix, 2)
    print(f"\nrestart to first outcome: static membership {static:.2f} s, dynamic {dynamic:.2f} s")
    # Dynamic membership cannot answer before the dead member's session expires; static does.
    assert static < SESSION_SECONDS * 0.5 < dynamic
