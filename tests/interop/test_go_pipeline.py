"""The whole read path with a Go witness in it: relay → publisher → litewitness + certlife witness → tiles → Go.

``certctl serve publisher`` asks torchwood's litewitness and a ``certctl serve witness``
(its witness file) to cosign the relay's checkpoints; Go's tile client then reads the
published tiles through ``certctl serve tiles``, checking both cosignatures with
torchwood, and ``certverify log URL`` accepts the log under a 2-of-2 policy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from certlife.contracts.notes import Checkpoint
from certlife.contracts.policy import WitnessPolicy
from certlife.services.commands.application import CertificateApplication
from tests.integration.test_relay import certctl as relay_certctl
from tests.integration.test_relay import (
    certificate_events,
    lifecycle_commands,
    stack_env,
    store,
    trust_of,
    wait_for_size,
)
from tests.interop.harness import certverify_log, run_go
from tests.interop.servers import certlife_witness, litewitness, tiles_server
from tests.procs import ServiceProcess

pytestmark = pytest.mark.integration


async def _cosigned_checkpoint(tiles: Path, size: int, policy: WitnessPolicy, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    note = ""
    while time.monotonic() < deadline:
        note = (tiles / "checkpoint").read_text() if (tiles / "checkpoint").exists() else ""
        if (
            note
            and Checkpoint.parse(note[: note.rfind("\n\n") + 1]).size == size
            and policy.evaluate(note).satisfied
        ):
            return note
        await asyncio.sleep(0.2)
    raise AssertionError(f"no checkpoint of size {size} cosigned by both witnesses; last:\n{note}")


async def test_publisher_asks_litewitness_and_go_reads_the_cosigned_tiles(
    go_bin: dict[str, Path],
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    pg_env: dict[str, str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    env = stack_env(kafka_bootstrap, database_url, pg_schema, unique_name("interop") + ".", tmp_path / "keys")
    assert relay_certctl(env, "keys", "generate").returncode == 0
    trust = trust_of(env)
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(relay_certctl(env, "keys", "trust").stdout)
    logs = {trust.origin: trust.note_keys[0]}
    tiles, witness_file, policy_file = tmp_path / "tiles", tmp_path / "witnesses.txt", tmp_path / "policy.txt"
    env.update(CERTLIFE_TILES_DIR=str(tiles), CERTLIFE_WITNESSES_FILE=str(witness_file))
    with (
        litewitness(go_bin, tmp_path / "lw", "litewitness.interop.example", logs) as lite,
        certlife_witness(tmp_path / "cw", "certlife.interop.example/w", logs, database_url, pg_schema) as (
            ours,
            _,
        ),
    ):
        witness_file.write_text(
            f"witness lite {lite.vkey} {lite.url}\nwitness ours {ours.vkey} {ours.url}\nquorum none\n"
        )
        policy_file.write_text(
            f"witness lite {lite.vkey}\nwitness ours {ours.vkey}\ngroup both all lite ours\nquorum both\n"
        )
        policy = WitnessPolicy.parse(policy_file.read_text())
        app = CertificateApplication(env=pg_env)
        relay = ServiceProcess("relay", env, tmp_path).start()
        publisher = ServiceProcess("publisher", env, tmp_path).start()
        try:
            relay.wait_for_log("relay active")
            publisher.wait_for_log("publisher active")
            for round_ in lifecycle_commands(0, 120)[:3]:
                await asyncio.to_thread(store, app, round_)
            expected = certificate_events(app)
            await wait_for_size(env, trust, expected)
            assert relay.stop() == 0  # its final checkpoint covers the whole log
            note = await _cosigned_checkpoint(tiles, expected, policy)
            assert set(policy.evaluate(note).cosigned_by) == {"lite", "ours"}
            assert publisher.stop() == 0
        finally:
            relay.kill()
            publisher.kill()

    with tiles_server(tiles, tmp_path / "tiles.log") as url:
        read = run_go(
            go_bin["tileclient"],
            "-tiles", url, "-vkey", trust.note_keys[0], "-origin", trust.origin,
            "-cosigner", lite.vkey, "-cosigner", ours.vkey, "-index", f"0,{expected - 1}",
        )  # fmt: skip
        assert read.returncode == 0, read.results or read.stderr
        assert read.last["count"] == expected and read.last["size"] == expected
        assert read.last["cosigned_by"] == ["litewitness.interop.example", "certlife.interop.example/w"]
        report = certverify_log(url, policy_file, trust_file)
    assert report["ok"] and report["records"] == expected, report
    assert sorted(report["latestCheckpoint"]["cosignedBy"]) == ["lite", "ours"]
