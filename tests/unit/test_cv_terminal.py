"""certctl and certverify escape control characters in everything they print.

Certificate numbers, file names and other data reach the output; ESC
sequences, carriage returns, bidi overrides, NUL, DEL, C1 controls and lone
surrogates must appear only as visible escapes, on stdout and stderr, and
``--json`` output must stay valid JSON with the same values. Each test runs a
real entry point, so it fails if the wrapper is not installed there.
"""

from __future__ import annotations

import codecs
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from certlife.contracts.canonical import canonical_bytes
from certlife.services.cli.certctl import main as certctl
from certlife.services.cli.terminal import EscapingWriter, escape
from certlife.services.partner.certverify import main as certverify
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
#: Raw characters that must never reach a terminal, and how each must appear instead.
HOSTILE = {
    "\x1b": "\\x1b",
    "\r": "\\x0d",
    "\u202e": "\\u202e",
    "\x00": "\\x00",
    "\x07": "\\x07",
    "\x7f": "\\u007f",
    "\x9b": "\\u009b",
    "\u2066": "\\u2066",
    "\u200f": "\\u200f",
    "\ud800": "\\ud800",
}
NUMBER = "C-\x1b[31mRED\r\u202eLIVE\x00\x07\x7f\x9b\u2066\u200f\ud800"
#: What a signed record of an older producer (before the admission rule) can hold.
LEGACY_NUMBER = NUMBER.replace("\ud800", "")
#: What a file name can hold (no NUL, no lone surrogate that the file system would refuse).
NAME = "b-\x1b[2J\r\u202eEVIL\x07\x7f\x9b"


def _assert_clean(text: str) -> None:
    for raw in HOSTILE:
        assert raw not in text, f"raw {raw!r} printed: {text!r}"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("terminal") / "export"
    b = LogBuilder()
    b.issue_many(3)
    b.checkpoint()
    b.write_export(out)
    return out


@pytest.fixture(scope="module")
def hostile_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log whose record 3 (written before the admission rule) has a hostile number and a bad signature."""
    out = tmp_path_factory.mktemp("terminal") / "hostile"
    b = LogBuilder()
    b.issue_many(3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("certlife.contracts.record_signing.record_content_problem", lambda data: None)
        b.add(LEGACY_NUMBER, "issued", "valid")
    record = json.loads(b.records[-1])
    record["sig"] = "A" * 86 + "=="  # a well-formed signature that does not verify
    b.records[-1] = canonical_bytes(record)
    b.checkpoint()
    b.write_export(out)
    return out


def test_escape_every_class_and_keep_newline_tab_and_text() -> None:
    for raw, shown in HOSTILE.items():
        assert escape(f"a{raw}b") == f"a{shown}b"
    for raw in "\u061c\u200e\u202a\u202b\u202c\u202d\u2067\u2068\u2069\x85\x80\x9f\x01\x1f":
        assert escape(raw).startswith("\\")
    text = "Zürich – 認証 😀 \u2028\ttab\nnext"
    assert escape(text) == text
    value = {"holder": NUMBER + "\u00e9"}
    assert json.loads(escape(json.dumps(value, ensure_ascii=False))) == value  # still JSON, same value


def test_writer_lets_leading_carriage_returns_through_on_stderr_only() -> None:
    err, out = io.StringIO(), io.StringIO()
    EscapingWriter(err, leading="\r").write("\r\rbar 5/10 \x1b[A\rX")
    EscapingWriter(out).write("\rbar")
    assert err.getvalue() == "\r\rbar 5/10 \\x1b[A\\x0dX" and out.getvalue() == "\\x0dbar"


def test_binary_writes_are_escaped_in_order_even_when_a_character_is_split() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    writer = EscapingWriter(stream)
    data = "ok \u202e\x1b[0m é".encode()
    split = data.index("é".encode()) + 1
    writer.write("text ")
    writer.buffer.write(data[:split])
    writer.buffer.write(data[split:] + b"\xff\n")
    writer.buffer.flush()
    stream.seek(0)
    assert stream.read() == "text ok \\u202e\\x1b[0m é\\udcff\n"
    assert codecs.lookup(writer.encoding).name == "utf-8"  # other attributes: the wrapped stream's


def test_certverify_human_output_and_errors_are_escaped(
    hostile_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = str(hostile_export / "trust.json")
    assert certverify(["log", str(hostile_export), "--trust", trust, "--jobs", "1"]) == 1
    out, err = capsys.readouterr()
    _assert_clean(out + err)
    assert escape(LEGACY_NUMBER) in out + err
    assert "C-\\x1b[31mRED\\x0d\\u202eLIVE\\x00\\x07\\u007f\\u009b\\u2066\\u200f" in out + err
    with pytest.raises(SystemExit) as caught:  # a number that could never exist: usage error
        certverify(["status", NUMBER, str(hostile_export), "--trust", trust])
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    _assert_clean(out + err)
    assert "is not allowed" in err
    missing = tmp_path / NAME
    assert certverify(["record", str(missing), "--trust", trust]) == 2
    out, err = capsys.readouterr()
    _assert_clean(out + err)
    assert out == "" and err.startswith("certverify: error: ") and escape(str(missing)) in err


def test_certverify_json_output_stays_valid_json(
    hostile_export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = str(hostile_export / "trust.json")
    assert certverify(["log", str(hostile_export), "--trust", trust, "--json", "--jobs", "1"]) == 1
    out, _ = capsys.readouterr()
    _assert_clean(out)
    assert json.loads(out)["failure"]["certificate"] == LEGACY_NUMBER


def test_certverify_argparse_errors_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        certverify(["log", "x", "--trust", "t", "\x1b[31m\u202e"])  # argparse echoes it raw
    _, err = capsys.readouterr()
    _assert_clean(err)
    assert "unrecognized arguments: \\x1b[31m\\u202e" in err


def test_certctl_stdout_and_stderr_are_escaped(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / NAME
    assert certctl(["bundle", "C-0001", "--export", str(export), "--out", str(out_file)]) == 0
    out, err = capsys.readouterr()
    _assert_clean(out + err)
    assert out.startswith("bundle for C-0001:") and escape(str(out_file)) in out
    with pytest.raises(SystemExit) as caught:  # a number that could never exist: usage error
        certctl(["bundle", NUMBER, "--export", str(export), "--out", str(tmp_path / "b")])
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    _assert_clean(out + err)
    assert "certctl bundle: error: argument NUMBER" in err and "is not allowed" in err


def test_console_entry_point_escapes_the_real_stdout(hostile_export: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "certlife.services.partner.certverify", "log", str(hostile_export), "--trust",
         str(hostile_export / "trust.json")],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    for raw in (b"\x1b", b"\r", "\u202e".encode()):
        assert raw not in result.stdout + result.stderr
    assert b"C-\\x1b[31mRED\\x0d\\u202eLIVE" in result.stdout + result.stderr
