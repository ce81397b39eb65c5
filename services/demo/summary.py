"""Print the main job's summary and decide whether every check passed."""

from __future__ import annotations

from collections import Counter
from typing import Any

from certlife.services.demo.partner import PLANNED_STEPS
from certlife.services.demo.traffic import Accounting


def passed(figures: dict[str, Any]) -> bool:
    """True only if every partner step passed, the mirror agrees with the read model and every
    published command message is accounted for."""
    steps = figures["steps"]
    return (
        bool(steps)
        and len(steps) == PLANNED_STEPS
        and all(s.ok for s in steps)
        and not figures["status mismatches"]
        and figures["outcomes"].unaccounted == 0
        and figures.get("lookup check", (True, ""))[0]
    )


def render(figures: dict[str, Any]) -> str:
    """A short human summary."""
    books: Accounting = figures["outcomes"]
    outcomes: Counter[str] = books.outcomes
    rejected = {k.split(":", 1)[1]: v for k, v in outcomes.items() if k.startswith("rejected:")}
    lost = books.unaccounted
    lines = [
        "",
        "certlife main job — summary",
        f"  commands published   {books.published:>6}   accepted {outcomes['accepted']}, "
        f"rejected {outcomes['rejected']} ({', '.join(f'{k} {v}' for k, v in sorted(rejected.items()))}), "
        f"re-sent and answered again {books.answered_again}, dead letters without a readable "
        f"commandId {books.dead_without_id}: "
        + ("every message accounted for" if lost == 0 else f"UNACCOUNTED {lost}"),
        f"                                dead letters in all {books.dead_letters} "
        "(malformed commands; those with a readable commandId were also answered)",
        f"  signed log records   {figures['log size']:>6}   (incl. one key rotation)",
        f"  certificates         {figures['certificates']:>6}   "
        + ", ".join(f"{k} {v}" for k, v in sorted(figures["by status"].items())),
        "  by scheme                     "
        + ", ".join(f"{k} {v}" for k, v in sorted(figures["by scheme"].items())),
        "  timings                       "
        + ", ".join(f"{k} {v:.1f}s" for k, v in figures["timings"].items()),
        "",
        "partner lab (abroad):",
    ]
    for step in figures["steps"]:
        mark = "ok  " if step.ok else "FAIL"
        lines.append(f"  [{mark}] {step.name:<32} {step.seconds:6.1f}s {step.detail}")
    differ = figures["status mismatches"]
    lines.append(
        f"  [{'ok  ' if not differ else 'FAIL'}] mirror status == internal read model for "
        f"{figures['certificates']} certificates" + (f" (differs: {', '.join(differ[:5])})" if differ else "")
    )
    lines.append(f"  proof bundle and tlog-proof for certificate {figures['bundle certificate']}")
    lines.append("")
    lines.append("witnesses (split-view protection):")
    for name, vkey in figures["witnesses"].items():
        lines.append(f"  {name:<28} {vkey}")
    lines.append(
        "  newest checkpoint cosigned by: "
        + (", ".join(figures["cosigned by"]) or "none")
        + " (the partner lab's policy: both)"
    )
    for step in figures["steps"]:
        data = getattr(step, "data", None)
        latest = data.get("latestCheckpoint") if data else None
        if isinstance(latest, dict) and "cosignedBy" in latest:
            lines.append(
                f"  {step.name:<42} checkpoint {latest['size']} cosigned by {', '.join(latest['cosignedBy'])}"
            )
    lines.append(f"  tiles served at {figures['tiles url']}")
    if "lookup check" in figures:
        ok, seen = figures["lookup check"]
        lines.append("")
        lines.append("read side (certctl serve api, under the supervisor):")
        lines.append(
            f"  [{'ok  ' if ok else 'FAIL'}] status API answers {figures['bundle certificate']}: {seen}"
        )
        lines.append(f"  lookup page at {figures['lookup url'] or '(not running)'}")
    lines.append("")
    lines.append("RESULT: " + ("every check passed" if passed(figures) else "FAILED"))
    return "\n".join(lines)
