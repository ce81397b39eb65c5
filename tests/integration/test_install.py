"""Installing certlife from its wheel, as a partner lab does, into clean virtual environments.

The wheel is built once (``pip wheel --no-deps``, from a copy of the tree so that
no build artefact lands in the repository), then installed with
``certlife[verify]`` into one new virtual environment and with
``certlife[mirror]`` into another. The checks: the wheel adds exactly one
top-level name, ``certlife``; the verifier's environment holds none of
eventsourcing, faststream, psycopg or pydantic; ``certverify --help`` runs, and
``certverify log`` verifies a fixture export and detects one changed byte; the
mirror's extra adds only the Kafka and PostgreSQL clients. It needs PyPI (or
pip's cache), not Kafka or PostgreSQL; without them it fails, naming the reason.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: Distributions the verifier must never pull in (the services' stack), as pip lists them.
SERVICE_ONLY = ("eventsourcing", "faststream", "psycopg", "pydantic")
#: Top-level entries of the tree that no wheel is built from.
NOT_BUILT_FROM = {"tests", "bench", "build", "dist"}
#: Some packages may need to be downloaded: minutes, not hours.
PIP_TIMEOUT = 900


def _norm(name: str) -> str:
    """A distribution name in PEP 503 normal form."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_service_only(name: str) -> bool:
    return any(name == banned or name.startswith(banned + "-") for banned in SERVICE_ONLY)


def _clean_env() -> dict[str, str]:
    """This environment without what would let another interpreter see the project's sources."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(argv: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def _must(
    argv: list[str], cwd: Path, what: str, timeout: float = 300, *, network: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a set-up step; fail (never skip) with its reason when it does not succeed.

    ``network``: the step downloads from PyPI unless pip's cache holds what it needs.
    """
    hint = " It needs PyPI or pip's cache: is PyPI reachable from this machine?" if network else ""
    try:
        result = _run(argv, cwd, timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish within {timeout:.0f} s.{hint}", pytrace=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        pytest.fail(f"{what} failed (exit {result.returncode}).{hint}\n{tail}", pytrace=False)
    return result


def _source_copy(dest: Path) -> Path:
    """Copy what a wheel is built from: the tree without tests, caches and hidden folders."""

    def ignore(folder: str, names: list[str]) -> Iterable[str]:
        top = Path(folder).resolve() == ROOT
        return [
            n
            for n in names
            if n == "__pycache__"
            or n.endswith((".pyc", ".egg-info"))
            or (top and (n.startswith(".") or n in NOT_BUILT_FROM))
        ]

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """certlife's wheel, built once per session outside the repository."""
    work = tmp_path_factory.mktemp("wheel")
    source = _source_copy(work / "source")
    out = work / "dist"
    _must(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        work,
        "building the wheel (pip wheel, which installs setuptools in an isolated build environment)",
        PIP_TIMEOUT,
        network=True,
    )
    (built,) = out.glob("certlife-*.whl")
    return built


@dataclass(frozen=True)
class Venv:
    """A clean virtual environment with certlife installed from the wheel."""

    root: Path
    before: frozenset[str]  # site-packages entries before certlife was installed

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    @property
    def site_packages(self) -> Path:
        (path,) = (self.root / "lib").glob("python3*/site-packages")
        return path

    def distributions(self) -> set[str]:
        """Every distribution installed, by normal name (``pip list``)."""
        listed = _must([str(self.python), "-m", "pip", "list", "--format", "json"], self.root, "pip list")
        return {_norm(d["name"]) for d in json.loads(listed.stdout)}


def _install(wheel: Path, where: Path, extra: str) -> Venv:
    _must([sys.executable, "-m", "venv", str(where)], where.parent, "creating a virtual environment")
    (site,) = (where / "lib").glob("python3*/site-packages")
    before = frozenset(p.name for p in site.iterdir())
    _must(
        [str(where / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[{extra}]"],
        where.parent,
        f"pip install 'certlife[{extra}]' from the wheel",
        PIP_TIMEOUT,
        network=True,
    )
    return Venv(where, before)


@pytest.fixture(scope="module")
def verify_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A new virtual environment holding ``certlife[verify]`` and nothing else."""
    return _install(wheel, tmp_path_factory.mktemp("install") / "verify", "verify")


@pytest.fixture(scope="module")
def mirror_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A new virtual environment holding ``certlife[mirror]`` and nothing else."""
    return _install(wheel, tmp_path_factory.mktemp("install") / "mirror", "mirror")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid fixture export of 50 certificates, written by the project's own certctl."""
    out = tmp_path_factory.mktemp("export") / "export"
    argv = [sys.executable, "-m", "certlife.services.cli.certctl", "fixtures", "--out", str(out)]
    result = _run([*argv, "--certificates", "50", "--seed", "1"], ROOT)
    assert result.returncode == 0, result.stderr
    return out


def _record_tops(dist_info: Path) -> set[str]:
    """First path components of what a distribution installed (its RECORD), relative to site-packages."""
    with (dist_info / "RECORD").open(newline="") as f:
        return {Path(row[0]).parts[0] for row in csv.reader(f) if row}


def test_the_wheel_holds_only_certlife(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert {n.split("/")[0] for n in names} == {"certlife", info}
    assert zipfile.ZipFile(wheel).read(f"{info}/top_level.txt").decode().split() == ["certlife"]


def test_installing_adds_one_top_level_name_certlife(verify_venv: Venv) -> None:
    site = verify_venv.site_packages
    (info,) = site.glob("certlife-*.dist-info")
    installed = _record_tops(info)
    # Besides its package and its metadata, certlife installs only its two scripts (bin/, outside).
    assert installed - {".."} == {"certlife", info.name}
    scripts = {Path(row).name for row in _installed_outside(info)}
    assert scripts == {"certctl", "certverify"}
    # Every other new entry of site-packages belongs to a dependency; none of them holds `certlife`.
    theirs: set[str] = set()
    for other in site.glob("*.dist-info"):
        if other != info:
            theirs |= _record_tops(other)
    new = {p.name for p in site.iterdir()} - verify_venv.before - {"__pycache__"}
    assert new - theirs == {"certlife", info.name}
    assert "certlife" not in theirs
    where = _must(
        [str(verify_venv.python), "-c", "import certlife.services; print(certlife.services.__file__)"],
        verify_venv.root,
        "importing certlife",
    )
    assert Path(where.stdout.strip()).is_relative_to(site / "certlife")


def _installed_outside(dist_info: Path) -> list[str]:
    """RECORD paths that leave site-packages (the console scripts)."""
    with (dist_info / "RECORD").open(newline="") as f:
        return [row[0] for row in csv.reader(f) if row and row[0].startswith("..")]


def test_the_verifier_pulls_in_no_service_dependency(verify_venv: Venv) -> None:
    installed = verify_venv.distributions()
    # cramjam: aiokafka decodes the services' zstd-compressed record batches only with it.
    assert {"certlife", "cryptography", "pynacl", "rfc8785", "orjson", "aiokafka", "cramjam"} <= installed
    assert sorted(n for n in installed if _is_service_only(n)) == []
    assert "asyncpg" not in installed


def test_certverify_help_runs_from_the_wheel(verify_venv: Venv) -> None:
    result = _run([str(verify_venv.bin("certverify")), "--help"], verify_venv.root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: certverify")


def test_certctl_in_the_verifier_install_names_the_service_extra(verify_venv: Venv, export: Path) -> None:
    result = _run([str(verify_venv.bin("certctl")), "show", "2020120100000001"], verify_venv.root)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("certctl: error: this command needs ")
    assert result.stderr.strip().endswith("which is not installed: pip install 'certlife[service]'")


def test_certverify_log_verifies_an_export(verify_venv: Venv, export: Path) -> None:
    argv = [str(verify_venv.bin("certverify")), "log", str(export), "--trust", str(export / "trust.json")]
    result = _run(argv, verify_venv.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("VERIFIED")


def test_certverify_log_detects_a_changed_byte(verify_venv: Venv, export: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(export, tampered)
    log = tampered / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    index = len(lines) // 2
    at = lines[index].index(b'"origin":"') + len(b'"origin":"')  # one letter of a signed record
    changed = bytearray(lines[index])
    changed[at] ^= 0x20  # the same letter in the other case
    lines[index] = bytes(changed)
    log.write_bytes(b"\n".join(lines))
    argv = [str(verify_venv.bin("certverify")), "log", str(tampered), "--trust", str(export / "trust.json")]
    result = _run([*argv, "--json"], verify_venv.root)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["failure"]["index"] == index, report["failure"]


def test_the_mirror_in_the_verifier_install_names_its_extra(verify_venv: Venv, export: Path) -> None:
    argv = [str(verify_venv.bin("certverify")), "status", "2020120100000001"]
    result = _run([*argv, "--database", "postgresql://127.0.0.1:1/none"], verify_venv.root)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "certverify: error: status needs asyncpg, which is not installed: pip install 'certlife[mirror]'"
    )


def test_the_mirror_extra_adds_only_the_kafka_and_postgresql_clients(
    mirror_venv: Venv, verify_venv: Venv
) -> None:
    installed = mirror_venv.distributions()
    assert {"aiokafka", "asyncpg"} <= installed
    assert sorted(n for n in installed if _is_service_only(n)) == []
    # Beyond the verifier's install: asyncpg and whatever asyncpg itself requires here.
    script = (
        "import json, re; from importlib.metadata import requires; "
        "print(json.dumps([re.split(r'[ ;<>=!~\\[(]', r, maxsplit=1)[0] for r in requires('asyncpg') or []"
        " if 'extra ==' not in r]))"
    )
    asyncpg_needs = json.loads(
        _must([str(mirror_venv.python), "-c", script], mirror_venv.root, "reading asyncpg's needs").stdout
    )
    assert installed - verify_venv.distributions() <= {"asyncpg", *map(_norm, asyncpg_needs)}


def test_the_mirror_code_path_imports_no_service_dependency(mirror_venv: Venv, export: Path) -> None:
    modules = (
        "certlife.services.partner.mirror_cmd",
        "certlife.services.partner.mirror",
        "certlife.services.partner.kafka_source",
        "certlife.projections.mirror_store",
    )
    script = (
        f"import importlib, json, sys; [importlib.import_module(m) for m in {modules!r}]; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = json.loads(_must([str(mirror_venv.python), "-c", script], mirror_venv.root, "import").stdout)
    assert [m for m in loaded if m.split("_")[0] in SERVICE_ONLY] == []
    # And the mirror runs: with nothing listening, one line and exit 2.
    argv = [str(mirror_venv.bin("certverify")), "mirror", "--bootstrap", "127.0.0.1:1", "--once"]
    argv += ["--database", "postgresql://certlife@127.0.0.1:1/none", "--trust", str(export / "trust.json")]
    result = _run(argv, mirror_venv.root, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("certverify: error: cannot use the mirror database or Kafka")
    assert "Traceback" not in result.stderr
