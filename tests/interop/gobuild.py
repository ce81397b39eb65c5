"""Build the Go interop programs (tests/interop/go) once, into a cache outside the repository.

The binaries land in ``$CERTLIFE_HOME/interop-bin/<key>/``, the key being a hash of the Go
sources, go.mod, go.sum and ``go version``: a change to any of them builds afresh; an
interrupted build never leaves a half-filled directory behind (it is built aside and
renamed), and only the newest build is kept. Without Go, or without the module proxy on a
cold module cache, the build raises :class:`GoUnavailable` with one clear line; the tests
then fail (they never skip).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

GO_DIR = Path(__file__).parent / "go"
#: The programs: ours (./cmd/…) and torchwood's witness and its database tool.
PROGRAMS = {
    "gotiles": "./cmd/gotiles",
    "noteverify": "./cmd/noteverify",
    "tileclient": "./cmd/tileclient",
    "witnessclient": "./cmd/witnessclient",
    "litewitness": "filippo.io/torchwood/cmd/litewitness",
    "witnessctl": "filippo.io/torchwood/cmd/witnessctl",
}


class GoUnavailable(RuntimeError):
    """Go or the Go modules the harness needs are not available."""


def _sources_key(go: str) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    digest.update(version.encode())
    for path in sorted(GO_DIR.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(str(path.relative_to(GO_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Where built binaries are kept: ``$CERTLIFE_HOME/interop-bin``."""
    home = Path(os.environ.get("CERTLIFE_HOME") or Path.home() / ".cache" / "certlife").expanduser()
    return home / "interop-bin"


def build() -> dict[str, Path]:
    """Return the path of each program, building them if this source state has no build yet."""
    go = shutil.which("go")
    if go is None:
        raise GoUnavailable(
            "the Go toolchain is not on PATH: install Go (1.26 or later: golang.org/x/mod v0.43.0 needs it) to run tests/interop"
        )
    target = cache_root() / _sources_key(go)
    paths = {name: target / name for name in PROGRAMS}
    if all(p.is_file() for p in paths.values()):
        return paths
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    env = dict(os.environ, GOFLAGS="-mod=readonly -buildvcs=false", CGO_ENABLED="0")
    try:
        result = subprocess.run(
            [go, "build", "-trimpath", "-o", f"{staging}/", *PROGRAMS.values()],
            cwd=GO_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        returncode, stderr = result.returncode, result.stderr
    except subprocess.TimeoutExpired:
        returncode, stderr = -1, "go build did not finish within 900 s"
    if returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = " | ".join(stderr.strip().splitlines()[-6:])
        proxy = env.get("GOPROXY") or "https://proxy.golang.org,direct"
        raise GoUnavailable(
            "building the Go interop harness (tests/interop/go) failed; a cold module cache "
            f"needs the Go module proxy (GOPROXY={proxy}): {tail}"
        )
    try:
        staging.rename(target)
    except OSError:  # another session built it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    for old in target.parent.iterdir():  # builds of earlier sources: only the newest is kept
        if old != target and re.fullmatch(r"[0-9a-f]{16}", old.name):
            shutil.rmtree(old, ignore_errors=True)
    return paths
