"""What a partner lab abroad does with the public log: mirror, verify, prove one certificate."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field

import asyncpg

from certlife.services.cli import TOOL_MODULES
from certlife.services.demo.setup import DemoRun
from certlife.services.demo.witnesses import Witnessing

#: How many steps ``partner_steps`` plans (the summary fails a run that stopped short).
PLANNED_STEPS = 10


@dataclass
class Step:
    """One partner step: the command line run, whether it passed, how long it took."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""
    data: dict[str, object] = field(default_factory=dict)


def _cli(run: DemoRun, tool: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    env = run.env
    if tool == "certverify":  # the partner lab abroad: only its kit, none of the operator's settings
        env = {k: v for k, v in env.items() if not k.startswith(("CERTLIFE_KAFKA_", "CERTLIFE_TOPIC_PREFIX"))}
    result = subprocess.run(
        [sys.executable, "-m", TOOL_MODULES[tool], *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return result, time.monotonic() - start


def partner_steps(run: DemoRun, number: str, witnessing: Witnessing | None = None) -> list[Step]:
    """trust.json, mirror, full log verification from Kafka and from HTTP tiles, export, proof
    bundle and tlog-proof for ``number``: every verification under the 2-of-2 witness policy.

    Without ``witnessing`` (a run without witnesses and tiles) the verifications need no
    cosignature and the tiles step is left out.
    """
    d, env = run.directory, run.env
    bootstrap, prefix = env["CERTLIFE_KAFKA_BOOTSTRAP"], env["CERTLIFE_TOPIC_PREFIX"]
    trust, export, bundle = d / "trust.json", d / "export", d / "bundle.json"
    tlog_proof = d / "proof.tlog"
    kit = d / "partner-kit"
    policy = [] if witnessing is None else ["--witness-policy", str(witnessing.policy)]
    steps: list[Step] = []
    plan: list[tuple[str, str, list[str], bool]] = [
        ("trust file", "certctl", ["keys", "trust", "--out", str(trust)], False),
        (
            "partner kit",
            "certctl",
            ["partners", "add", "lab", "--kit", str(kit), "--trust", str(trust)],
            False,
        ),
        (
            "mirror (verify, then apply) with the kit",
            "certverify",
            [
                "mirror",
                "--kit",
                str(kit),
                "--database",
                env["CERTLIFE_DATABASE_URL"],
                "--trust",
                str(trust),
                "--schema",
                run.mirror_schema,
                *policy,
                "--once",
                "--json",
            ],
            True,
        ),
        (
            "verify whole log from Kafka with the kit",
            "certverify",
            [
                "log",
                f"kafka://{bootstrap}?prefix={prefix}",
                "--kit",
                str(kit),
                "--trust",
                str(trust),
                *policy,
                "--json",
            ],
            True,
        ),
        *(
            []
            if witnessing is None
            else [
                (
                    "verify whole log over HTTP tiles",
                    "certverify",
                    ["log", witnessing.tiles_url, "--trust", str(trust), *policy, "--json"],
                    True,
                )
            ]
        ),
        ("export log", "certctl", ["export", str(export)], False),
        ("proof bundle", "certctl", ["bundle", number, "--export", str(export), "--out", str(bundle)], False),
        (
            "verify proof bundle",
            "certverify",
            ["proof", str(bundle), "--trust", str(trust), *policy, "--json"],
            True,
        ),
        (
            "tlog-proof (C2SP)",
            "certctl",
            ["bundle", number, "--export", str(export), "--format", "tlog-proof", "--out", str(tlog_proof)],
            False,
        ),
        (
            "verify tlog-proof",
            "certverify",
            ["proof", str(tlog_proof), "--trust", str(trust), *policy, "--json"],
            True,
        ),
    ]
    assert len(plan) == PLANNED_STEPS - (witnessing is None)
    for name, tool, args, is_json in plan:
        result, seconds = _cli(run, tool, *args)
        ok = result.returncode == 0
        data: dict[str, object] = {}
        if is_json and result.stdout.strip():
            try:
                data = json.loads(result.stdout)
            except ValueError:
                ok = False
        detail = (result.stderr.strip().splitlines() or [""])[-1] if not ok else ""
        steps.append(Step(name, ok, seconds, detail, data))
        if not ok:
            break
    return steps


async def compare_statuses(run: DemoRun) -> tuple[int, list[str]]:
    """Certificates whose mirrored status differs from the internal read model."""
    conn = await asyncpg.connect(run.env["CERTLIFE_DATABASE_URL"])
    try:
        internal = dict(
            await conn.fetch(f'SELECT number, status FROM "{run.env["CERTLIFE_DB_SCHEMA"]}".certificates')
        )
        mirrored = dict(
            await conn.fetch(f'SELECT number, status FROM "{run.mirror_schema}".mirror_certificates')
        )
    finally:
        await conn.close()
    differ = sorted(n for n in internal.keys() | mirrored.keys() if internal.get(n) != mirrored.get(n))
    return len(internal), differ
