"""Help of the commands issue 11 extended: ``certverify log|proof|mirror`` and ``certctl serve``.

Sources and proofs name every form they accept (tlog-tiles URLs, tlog-proof
files); ``certctl serve`` says what each service does, and a listening option
given to a service that does not listen is one line, exit 2, before anything
starts.
"""

from __future__ import annotations

import argparse

import pytest

from certlife.services.cli import certctl, serve_cmd
from certlife.services.partner import certverify

pytestmark = pytest.mark.unit


def _help(parser: argparse.ArgumentParser, *argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        parser.parse_args([*argv, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse's line wrapping undone


@pytest.mark.parametrize("command", ["log", "status"])
def test_log_sources_name_tiles_urls(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(certverify.build_parser(), command, capsys=capsys)
    assert "export directory" in text and "kafka://HOST:PORT" in text
    assert "http(s)://" in text and "tlog-tiles" in text


def test_proof_names_tlog_proof(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(certverify.build_parser(), "proof", capsys=capsys)
    assert "tlog-proof" in text and "proof bundle" in text and "BUNDLE" not in text
    overview = _help(certverify.build_parser(), capsys=capsys)
    assert "tlog-proof" in overview and "tlog-tiles" in overview
    assert "'record-too-large'" in overview  # the code an over-long record fails with (LOG.md §11.4)


def test_serve_help_describes_every_service(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(certctl.build_parser(), "serve", capsys=capsys)
    for service, what in serve_cmd.SERVICES.items():
        assert f"{service} {' '.join(what.split())}" in text
    assert {"witness", "publisher", "tiles"} <= set(serve_cmd.SERVICES)
    assert "CERTLIFE_WITNESSES_FILE" in text and "8380" in text and "8381" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["relay", "--port", "1"], "certctl serve relay takes no --port (only witness, tiles and api)"),
        (
            ["publisher", "--host", "0.0.0.0"],
            "certctl serve publisher takes no --host (only witness, tiles and api)",
        ),
        (["tiles", "t", "--tls-cert", "c.pem"], "certctl serve tiles takes no --tls-cert (only witness)"),
        (["commands", "t"], "certctl serve commands takes no directory argument"),
    ],
)
def test_options_a_service_does_not_use_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def started(*_: object) -> None:
        raise AssertionError("the service started")

    from certlife.services.cli import tiles_cmd

    # Anything past the option check would call one of these.
    monkeypatch.setattr(serve_cmd.witness_cmd, "serve", started)
    monkeypatch.setattr(tiles_cmd, "serve", started)
    monkeypatch.setattr(serve_cmd.Settings, "from_env", started)
    with pytest.raises(SystemExit) as exited:
        certctl.main(["serve", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err == f"certctl: error: {message}\n"
