"""The main job's summary accounts for every published message and fails when one is missing."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from certlife.services.demo.partner import PLANNED_STEPS
from certlife.services.demo.summary import passed, render
from certlife.services.demo.traffic import Accounting

pytestmark = pytest.mark.unit


class _Step:
    def __init__(self, name: str) -> None:
        self.name, self.ok, self.seconds, self.detail = name, True, 0.1, ""


def _figures(books: Accounting) -> dict[str, Any]:
    return {
        "outcomes": books, "log size": 10, "certificates": 5, "by status": Counter(valid=5),
        "by scheme": Counter(CCC=5), "timings": {"all": 1.0}, "steps": [_Step(f"s{i}") for i in range(PLANNED_STEPS)],
        "status mismatches": [], "bundle certificate": "C-1",
        "witnesses": {"w.a.example": "w.a.example+00000000+BA==", "w.b.example": "w.b.example+11111111+BA=="},
        "cosigned by": ["partner-a", "partner-b"], "tiles url": "http://127.0.0.1:1/",
    }  # fmt: skip


def test_every_message_accounted_for_passes_and_says_so() -> None:
    books = Accounting(10, Counter(accepted=6, rejected=2, **{"rejected:invalid-transition": 2}), 1, 2, 1)
    assert books.unaccounted == 0
    assert passed(_figures(books))
    text = render(_figures(books))
    assert "re-sent and answered again 1" in text and "every message accounted for" in text


def test_a_message_with_neither_outcome_nor_dead_letter_fails_the_job() -> None:
    books = Accounting(11, Counter(accepted=6, rejected=2), 1, 2, 1)
    assert books.unaccounted == 1
    assert not passed(_figures(books))
    assert "UNACCOUNTED 1" in render(_figures(books))


def test_the_summary_names_both_witnesses_and_who_cosigned_what_each_step_rested_on() -> None:
    figures = _figures(Accounting(10, Counter(accepted=6, rejected=2, **{"rejected:x": 2}), 1, 2, 1))
    figures["steps"][3].data = {"latestCheckpoint": {"size": 10, "cosignedBy": ["partner-a", "partner-b"]}}
    text = render(figures)
    assert "w.a.example+00000000+BA==" in text and "w.b.example+11111111+BA==" in text
    assert "newest checkpoint cosigned by: partner-a, partner-b" in text
    assert re.search(r"s3\s+checkpoint 10 cosigned by partner-a, partner-b", text)
