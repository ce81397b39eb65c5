"""Helpers of the Go interop tests: a fixture log, its keys in Go's formats, running Go programs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from certlife.contracts.notes import NoteSigner
from certlife.services.demo.fixtures import generate

ORIGIN = "certlife.example/log"


@dataclass(frozen=True)
class LogKeys:
    """A log's note keys: origin, verifier key, and the private key in x/mod note's format."""

    origin: str
    vkey: str
    skey: str


def note_keys(origin: str, key: Ed25519PrivateKey) -> LogKeys:
    """The vkey and golang.org/x/mod/sumdb/note's ``PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)``."""
    signer = NoteSigner(origin, key)
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    material = base64.b64encode(b"\x01" + seed).decode()
    skey = f"PRIVATE+KEY+{origin}+{signer.key_hash.hex()}+{material}"
    return LogKeys(origin, signer.verifier_key(), skey)


def fixture_log(directory: Path, certificates: int = 250, seed: int = 11) -> tuple[Path, LogKeys]:
    """Write a fixture export (checkpoints every 100 records) and return it with its note keys."""
    export = directory / "export"
    generate(export, certificates, seed, checkpoint_every=100, origin=ORIGIN, workers=0)
    key = load_pem_private_key((export / "fixture-note-key.pem").read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return export, note_keys(ORIGIN, key)


@dataclass(frozen=True)
class GoRun:
    """A finished Go program: exit status, its JSON output lines, stderr."""

    returncode: int
    results: list[dict[str, Any]]
    stderr: str

    @property
    def last(self) -> dict[str, Any]:
        """The last JSON line (the programs' summary or error)."""
        assert self.results, f"no JSON output; stderr: {self.stderr[-2000:]}"
        return self.results[-1]


def run_go(binary: Path, *args: str, timeout: float = 300) -> GoRun:
    """Run a Go interop program and parse its JSON lines."""
    done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout)
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return GoRun(done.returncode, results, done.stderr)


def go_tiles(go_bin: dict[str, Path], export: Path, keys: LogKeys, out: Path, *args: str) -> dict[str, Any]:
    """Write the export's tiles with Go's tlog (an independent rendering); return gotiles' report."""
    run = run_go(go_bin["gotiles"], "-export", str(export), "-out", str(out), "-vkey", keys.vkey, *args)
    assert run.returncode == 0, run.results or run.stderr
    return run.last


def witness_client(
    go_bin: dict[str, Path], tiles: Path | str, keys: LogKeys, url: str, vkey: str, *args: str
) -> GoRun:
    """Go's witnessclient against ``url`` with checkpoints of the log in ``tiles``."""
    return run_go(
        go_bin["witnessclient"],
        "-witness",
        url,
        "-tiles",
        str(tiles),
        "-log-key",
        keys.skey,
        "-witness-vkey",
        vkey,
        *args,
    )


def certverify_log(source: Path | str, policy: Path, trust: Path | None = None) -> dict[str, Any]:
    """``certverify log SOURCE --witness-policy POLICY --json`` (trust: the export's by default): its report."""
    trust = trust or Path(source) / "trust.json"
    done = subprocess.run(
        [sys.executable, "-m", "certlife.services.partner.certverify", "log", str(source),
         "--trust", str(trust), "--witness-policy", str(policy), "--json", "--jobs", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if report["ok"] else 1), done.stderr[-2000:]
    return report
