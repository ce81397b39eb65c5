"""The chaos suite's errors: one line each (``run_guarded`` prints them)."""

from __future__ import annotations

from certlife.domain.errors import CertlifeError


class ChaosError(CertlifeError, code="chaos-error"):
    """The chaos suite could not run (not: an invariant failed, which the report says)."""


class NoFreeSlot(ChaosError, code="chaos-no-free-slot"):
    """Every private stack slot is taken by another chaos run or by someone else's ports."""
