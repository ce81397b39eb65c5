"""Span export is off unless OTEL_TRACES_EXPORTER names an exporter; a wrong name is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from certlife.services.infra import otel

pytestmark = pytest.mark.unit

PARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

_PROGRAM = textwrap.dedent(
    """
    import sys, time
    from opentelemetry import trace
    from certlife.contracts import tracecontext
    from certlife.services.infra import otel
    print(otel.configure("probe"), tracecontext.recording(), flush=True)
    now = time.time_ns()
    tracecontext.record_span("certlife.probe", sys.argv[1].encode(), now, now + 1000, {"k": "v", "n": 7})
    trace.get_tracer_provider().shutdown() if tracecontext.recording() else None
    """
)


def _run(exporter: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if exporter is not None:
        env["OTEL_TRACES_EXPORTER"] = exporter
    return subprocess.run(
        [sys.executable, "-c", _PROGRAM, PARENT.decode()], env=env, capture_output=True, text=True, timeout=60
    )


def test_nothing_is_recorded_or_exported_by_default() -> None:
    for exporter in (None, "none", " NONE "):
        done = _run(exporter)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["none", "False"]
        assert done.stderr == ""


def test_the_console_exporter_writes_each_span_as_one_json_line_under_its_parent() -> None:
    done = _run("console")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["console", "True"]
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    span = json.loads(lines[0])
    assert span["name"] == "certlife.probe"
    assert span["context"]["trace_id"] == "0x4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["parent_id"] == "0x00f067aa0ba902b7"
    assert span["attributes"] == {"k": "v", "n": 7}
    assert span["resource"]["attributes"]["service.name"] == "certlife-probe"


def test_an_unknown_exporter_is_refused_with_the_choices() -> None:
    for value in ("jaeger", "otlp,console"):
        with pytest.raises(otel.ExporterError, match="is not one of none, otlp, console"):
            otel.configure("relay", {"OTEL_TRACES_EXPORTER": value})


def test_certctl_serve_names_a_bad_exporter_in_one_line() -> None:
    env = dict(os.environ, OTEL_TRACES_EXPORTER="zipkin")
    done = subprocess.run(
        [sys.executable, "-m", "certlife.services.cli.certctl", "serve", "relay"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "OTEL_TRACES_EXPORTER='zipkin' is not one of none, otlp, console" in done.stderr
