"""``certverify``: exit codes 0/1/2, the --json report shape, one-line errors, a light --help."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from certlife.services.demo.fixtures import generate
from certlife.services.partner.certverify import main, parse_duration

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid fixtures export (80 certificates, checkpoints every 50 records)."""
    out = tmp_path_factory.mktemp("cli") / "export"
    generate(out, certificates=80, seed=11, checkpoint_every=50, workers=0)
    return out


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = _run(capsys, *argv, "--json")
    assert out.count("\n") == 1, "exactly one JSON object on stdout"
    return code, json.loads(out)


def _first_number(export: Path) -> str:
    first = (export / "log.jsonl").read_bytes().split(b"\n", 1)[0]
    return str(json.loads(first)["certificate"]["number"])


def test_log_ok_json_shape(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _json(capsys, "log", str(export), "--trust", str(export / "trust.json"))
    assert code == 0 and report["ok"] is True and report["failure"] is None
    assert {"checks", "duplicates", "unanchored", "failure", "records", "latestCheckpoint"} <= report.keys()
    n = report["records"]
    assert report["checks"]["signature"] == report["checks"]["canonical"] == n > 0
    assert report["checks"]["checkpoint-consistency"] == report["checks"]["checkpoint-root"] - 1


def test_log_human_output(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "log", str(export), "--trust", str(export / "trust.json"), "--jobs", "1")
    assert code == 0 and out.rstrip().endswith("VERIFIED") and err == ""


def test_log_failure_names_index_certificate_and_check(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = Path(shutil.copytree(export, tmp_path / "bad"))
    lines = (bad / "log.jsonl").read_bytes().split(b"\n")
    lines[10] = lines[10].replace(b'"holder":"', b'"holder":"X', 1)
    (bad / "log.jsonl").write_bytes(b"\n".join(lines))
    code, report = _json(capsys, "log", str(bad), "--trust", str(export / "trust.json"))
    assert code == 1 and report["ok"] is False
    failure = report["failure"]
    assert (failure["code"], failure["check"], failure["index"]) == ("bad-signature", "signature", 10)
    assert failure["certificate"] == json.loads(lines[10])["certificate"]["number"]
    assert report["checks"]["signature"] == 10  # the checks done before the failure
    code, out, _ = _run(capsys, "log", str(bad), "--trust", str(export / "trust.json"))
    assert code == 1 and "FAILED: index 10, certificate" in out and "check 'signature'" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["log", "{missing}", "--trust", "{trust}"],
        ["log", "{export}", "--trust", "{missing}"],
        ["log", "{export}", "--trust", "{export}/log.jsonl"],
        ["record", "{missing}", "--trust", "{trust}"],
        ["proof", "{missing}", "--trust", "{trust}"],
        ["log", "kafka://nohost", "--trust", "{trust}"],
        ["log", "{export}", "--trust", "{trust}", "--known-checkpoint", "{missing}"],
    ],
)
def test_input_errors_exit_2_with_one_line(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    values = {
        "missing": str(tmp_path / "missing"),
        "trust": str(export / "trust.json"),
        "export": str(export),
    }
    code, out, err = _run(capsys, *(a.format(**values) for a in argv))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("certverify: error: ")


def test_input_error_with_json_prints_an_error_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _json(capsys, "log", str(tmp_path), "--trust", str(tmp_path / "t.json"))
    assert code == 2 and report["ok"] is False and report["error"]["code"] == "input"


def test_usage_errors_exit_2() -> None:
    for argv in ([], ["log"], ["log", "x"], ["status", "N", "x", "--trust", "t", "--max-age", "soon"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2


def test_no_traceback_on_a_missing_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certlife.services.partner.certverify",
            "log",
            str(tmp_path / "nope"),
            "--trust",
            "t.json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_record_command(export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = (export / "log.jsonl").read_bytes().split(b"\n")[3]
    (tmp_path / "r.json").write_bytes(line + b"\n")
    code, report = _json(capsys, "record", str(tmp_path / "r.json"), "--trust", str(export / "trust.json"))
    assert code == 0 and report["index"] == 3 and report["checks"]["signature"] == 1
    (tmp_path / "r.json").write_bytes(line.replace(b'"index":3', b'"index":4'))
    code, report = _json(capsys, "record", str(tmp_path / "r.json"), "--trust", str(export / "trust.json"))
    assert code == 1 and report["failure"]["code"] == "bad-signature"


def test_proof_command(export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from certlife.services.cli.certctl import main as certctl

    number, bundle = _first_number(export), tmp_path / "b.json"
    assert (
        certctl(["bundle", number, "--export", str(export), "--out", str(bundle), "--known-size", "50"]) == 0
    )
    capsys.readouterr()
    trust, known = str(export / "trust.json"), str(export / "checkpoints" / "50")
    code, report = _json(capsys, "proof", str(bundle), "--trust", trust, "--known-checkpoint", known)
    assert code == 0 and report["certificate"] == number and report["checks"]["consistency"] == 1
    data = json.loads(bundle.read_bytes())
    data["treeSize"] += 1
    bundle.write_text(json.dumps(data))
    code, report = _json(capsys, "proof", str(bundle), "--trust", trust)
    assert code == 1 and report["failure"]["code"] == "tree-size-mismatch"


def test_status_command(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    number, trust = _first_number(export), str(export / "trust.json")
    code, report = _json(capsys, "status", number, str(export), "--trust", trust)
    assert code == 0 and report["answer"]["status"] not in ("unknown", None)
    assert report["answer"]["checkpoint"]["size"] == report["latestCheckpoint"]["size"]
    # The fixture's newest record is from 2025; a one-hour bound makes the answer unknown.
    code, report = _json(capsys, "status", number, str(export), "--trust", trust, "--max-age", "1h")
    assert code == 1 and report["answer"]["status"] == "unknown"
    assert report["failure"]["code"] == "stale-checkpoint"
    code, report = _json(capsys, "status", "NO-SUCH", str(export), "--trust", trust)
    assert code == 1 and report["failure"]["code"] == "certificate-not-found"


def test_parse_duration() -> None:
    assert parse_duration("1d12h").total_seconds() == 36 * 3600
    assert parse_duration("90s").total_seconds() == 90


def test_help_imports_no_crypto_or_kafka() -> None:
    probe = (
        "import sys, json\n"
        "from certlife.services.partner.certverify import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('cryptography', 'nacl', 'aiokafka', 'orjson', 'tqdm', 'contracts')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_mirror_status_with_a_bad_dsn_is_one_line() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certlife.services.partner.certverify",
            "status",
            "X",
            "--database",
            "notadsn",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot read the mirror database" in result.stderr
    assert "Traceback" not in result.stderr
