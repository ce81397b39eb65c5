"""Failure codes: every one is registered with its check and specified in contracts/*.md.

``fail(code, ...)`` looks the check up in ``FAILURE_CODES``, so a code that
is raised but not registered would crash the verifier instead of reporting;
a registered code no contract document names is a report partners cannot
look up.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from certlife.contracts.credentials.errors import CREDENTIAL_CODES
from certlife.contracts.verification.failures import FAILURE_CODES, Check, fail

pytestmark = pytest.mark.unit

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
SERVICES = Path(__file__).resolve().parents[2] / "services"


@pytest.mark.parametrize("code", ["tile-mismatch", "entries-mismatch"])
def test_the_tiles_readers_codes_are_registered_under_checkpoint_root(code: str) -> None:
    failure = fail(code, "a tampered tile", index=256, checkpoint=300).failure
    assert (failure.code, failure.check, failure.index, failure.checkpoint) == (
        code,
        Check.CHECKPOINT_ROOT,
        256,
        300,
    )
    tiles_md = (CONTRACTS / "TILES.md").read_text(encoding="utf-8")
    assert f"`{code}`" in tiles_md


def test_every_failure_code_is_specified() -> None:
    documents = [
        (CONTRACTS / name).read_text(encoding="utf-8")
        for name in ("LOG.md", "BUNDLE.md", "TILES.md", "CREDENTIALS.md")
    ]
    missing = [code for code in FAILURE_CODES if not any(f"`{code}`" in text for text in documents)]
    assert missing == [], f"failure codes no contract document names: {missing}"


def test_every_code_given_to_fail_is_registered() -> None:
    """A literal ``fail("code", ...)`` anywhere in contracts/ or services/ names a registered code."""
    used: set[str] = set()
    for root in (CONTRACTS, SERVICES):
        for path in root.rglob("*.py"):
            used.update(re.findall(r"\bfail\(\s*\"([a-z0-9-]+)\"", path.read_text(encoding="utf-8")))
    assert used, "found no fail() calls: the pattern is out of date"
    assert sorted(used - set(FAILURE_CODES)) == []


def test_not_yet_issued_is_registered_under_lookup() -> None:
    """``certverify status --at`` before the first record (LOG.md §11.5.1) reports check ``lookup``."""
    assert FAILURE_CODES["not-yet-issued"] is Check.LOOKUP
    assert "`not-yet-issued` (check `lookup`" in (CONTRACTS / "LOG.md").read_text(encoding="utf-8")


def test_the_credential_codes_are_registered_with_the_steps_credentials_md_names() -> None:
    """Every code a CredentialError may carry is registered, under the step of CREDENTIALS.md §9's table."""
    assert set(CREDENTIAL_CODES) <= set(FAILURE_CODES)
    table = (
        (CONTRACTS / "CREDENTIALS.md").read_text(encoding="utf-8").partition("| code | step | meaning |")[2]
    )
    steps = dict(re.findall(r"^\| `([a-z-]+)` \| ([a-z-]+) \|", table, flags=re.MULTILINE))
    assert steps == {code: FAILURE_CODES[code].value for code in CREDENTIAL_CODES}
