"""The chaos run's report: ``report.md`` (people), ``report.json`` (tests) and ``timeline.png``."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certlife.services.chaos.checks import Check
from certlife.services.chaos.errors import ChaosError
from certlife.services.chaos.load import Observer
from certlife.services.chaos.recovery import STAGES, Recovery


@dataclass
class Report:
    """Everything a run found."""

    params: dict[str, Any]
    checks: list[Check]
    recoveries: list[Recovery]
    t0: float  # epoch seconds of the load's start (the plot's zero)
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every invariant held."""
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """The data file's object."""
        return {
            "ok": self.ok, "params": self.params, "counts": self.counts, "t0": self.t0,
            "checks": [c.to_json() for c in self.checks],
            "faults": [r.to_json() for r in self.recoveries],
        }  # fmt: skip


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def markdown(report: Report) -> str:
    """The report as markdown."""
    p = report.params
    lines = [
        f"# Chaos run {p['run']}: {'every invariant held' if report.ok else 'INVARIANTS FAILED'}",
        "",
        f"{p['load seconds']:.0f} s of load at {p['rate']:g} commands/s ({p['brokers']} broker"
        f"{'s' if p['brokers'] > 1 else ''}, PostgreSQL {'with a replica' if p['pg_replica'] else 'single'}),"
        f" services under `certctl serve all`; {len(report.recoveries)} faults, one at a time.",
        "",
        "| invariant | held | detail |",
        "| --- | --- | --- |",
        *[f"| {c.name} | {'yes' if c.ok else '**NO**'} | {c.detail} |" for c in report.checks],
        "",
        "| fault | at | target | notes | " + " | ".join(STAGES) + " | recovery |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in STAGES) + " | --- |",
    ]
    for r in report.recoveries:
        f = r.fault
        stages = " | ".join(_s(r.stages[s]) for s in STAGES)
        at = f"+{f.started - report.t0:.0f} s"
        lines.append(f"| {f.name} | {at} | {f.target} | {'; '.join(f.notes)} | {stages} | {_s(r.seconds)} |")
    lines += [
        "",
        "Recovery: from the fault's end (the kill; the restart's return after an outage) to the"
        " first outcome, log record and read-model advance after it; the longest of the three.",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in report.counts.items()]
    return "\n".join(lines) + "\n"


def _per_second(arrivals: list[float], t0: float, seconds: int) -> list[int]:
    counts = Counter(int(t - t0) for t in arrivals if 0 <= t - t0 < seconds)
    return [counts[i] for i in range(seconds)]


def plot(report: Report, observer: Observer, sent: list[float], path: Path) -> None:
    """Commands sent, outcomes and log records per second, with each fault shaded."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ChaosError("./dev chaos needs matplotlib for its plot: pip install matplotlib") from None
    t0 = report.t0
    end = max([*observer.outcomes, *observer.records, *sent, t0 + 1])
    seconds = int(end - t0) + 1
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for label, series in (("sent", sent), ("outcomes", observer.outcomes), ("log records", observer.records)):
        ax.plot(range(seconds), _per_second(series, t0, seconds), label=f"{label} / s", linewidth=0.9)
    ax.set_yscale("symlog", linthresh=max(10.0, float(report.params["rate"])))
    top = ax.get_ylim()[1]
    for r in report.recoveries:
        f = r.fault
        start, stop = f.started - t0, max(f.ended - t0, f.started - t0 + 0.5)
        ax.axvspan(start, stop, color="tab:red", alpha=0.3)  # the fault itself
        ax.axvspan(stop, stop + (r.seconds or 0), color="tab:orange", alpha=0.15)  # until recovered
        ax.text(start, top * 0.9, f.name, rotation=90, fontsize=7, va="top")
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel("messages per second (symlog)")
    ax.set_title(f"chaos run {report.params['run']}: each fault (red) and its recovery (orange)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(report: Report, observer: Observer, sent: list[float], out: Path) -> Path:
    """Write ``report.md``, ``report.json`` and ``timeline.png`` into ``out``; the markdown's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.to_json(), indent=1) + "\n")
    plot(report, observer, sent, out / "timeline.png")
    text = markdown(report) + "\n![timeline](timeline.png)\n"
    (out / "report.md").write_text(text)
    return out / "report.md"
