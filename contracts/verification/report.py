"""Reports: every check performed, with counts, and the failure if any."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from certlife.contracts.verification.checkpoints import VerifiedCheckpoint
from certlife.contracts.verification.commitments import CredentialState
from certlife.contracts.verification.facts import RecordFacts
from certlife.contracts.verification.failures import Failure, VerificationError

#: At most this many duplicate records are listed one by one (all are counted).
MAX_LISTED_DUPLICATES = 1000


@dataclass
class VerificationReport:
    """Counts of checks performed, duplicates seen, anchoring and the failure if any.

    ``records`` is the log size verified (distinct indexes), ``inputs`` the
    number of input records read (duplicates included). ``unanchored`` is the
    number of records past the newest checkpoint: not covered by a signed
    root, which alone is not a failure. With a witness policy,
    ``witness_quorum`` describes its quorum, ``checkpoints`` holds only the
    checkpoints meeting it and ``unwitnessed`` those that do not.
    """

    origin: str
    signatures: str
    checks: Counter[str] = field(default_factory=Counter)
    records: int = 0
    inputs: int = 0
    duplicates: list[dict[str, int]] = field(default_factory=list)
    duplicate_count: int = 0
    checkpoints: list[VerifiedCheckpoint] = field(default_factory=list)
    unanchored: int = 0
    failure: Failure | None = None
    witness_quorum: str | None = None
    unwitnessed: list[VerifiedCheckpoint] = field(default_factory=list)
    #: Facts of the latest record of each watched certificate (not part of the JSON).
    watched: dict[str, RecordFacts] = field(default_factory=dict)
    #: Credential keys and status list commitments of the verified log (set when verification
    #: finished; not part of the JSON).
    credentials: CredentialState | None = None

    @property
    def ok(self) -> bool:
        """True if verification finished without a failure."""
        return self.failure is None

    @property
    def latest_checkpoint(self) -> VerifiedCheckpoint | None:
        """The largest verified checkpoint, if any."""
        return self.checkpoints[-1] if self.checkpoints else None

    def add_duplicate(self, index: int, position: int) -> None:
        """Note an accepted repeat of record ``index`` (same bytes)."""
        self.duplicate_count += 1
        if len(self.duplicates) < MAX_LISTED_DUPLICATES:
            self.duplicates.append({"index": index, "position": position})

    def to_json(self) -> dict[str, Any]:
        """Return the JSON report object (``--json``)."""
        latest = self.latest_checkpoint
        witnesses = {} if self.witness_quorum is None else {"witnesses": self.witnesses_json()}
        return {
            "ok": self.ok,
            "origin": self.origin,
            "signatures": self.signatures,
            "records": self.records,
            "inputs": self.inputs,
            "checks": {str(k): v for k, v in sorted(self.checks.items())},
            "duplicates": self.duplicates,
            "duplicateCount": self.duplicate_count,
            "checkpoints": len(self.checkpoints),
            "latestCheckpoint": None if latest is None else checkpoint_json(latest),
            "unanchored": self.unanchored,
            **witnesses,
            "failure": None if self.failure is None else self.failure.to_json(),
        }

    def witnesses_json(self) -> dict[str, Any]:
        """The ``witnesses`` member: the quorum, checkpoints without it, invalid cosignatures."""
        invalid = [
            {"checkpoint": cp.size, "witness": name}
            for cp in sorted([*self.checkpoints, *self.unwitnessed], key=lambda c: c.size)
            for name in cp.invalid_cosigners
        ]
        return {
            "quorum": self.witness_quorum,
            "withoutQuorum": len(self.unwitnessed),
            "newestWithoutQuorum": self.unwitnessed[-1].size if self.unwitnessed else None,
            "invalidCosignatures": invalid[:MAX_LISTED_DUPLICATES],
            "invalidCosignatureCount": len(invalid),
        }


def checkpoint_json(cp: VerifiedCheckpoint) -> dict[str, Any]:
    """Return ``{"size", "root", "time"}`` for a checkpoint (and ``cosignedBy`` under a witness policy)."""
    out: dict[str, Any] = {"size": cp.size, "root": base64.b64encode(cp.root).decode(), "time": cp.time}
    if cp.cosignatures is not None:
        out["cosignedBy"] = list(cp.cosigned_by)
        if cp.invalid_cosigners:
            out["invalidCosignatures"] = list(cp.invalid_cosigners)
    return out


@dataclass
class StepReport:
    """Report of verifying one object (a record, a proof bundle): checks, details, failure."""

    kind: str
    checks: Counter[str] = field(default_factory=Counter)
    details: dict[str, Any] = field(default_factory=dict)
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        """True if every step passed."""
        return self.failure is None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON report object (``--json``)."""
        return {
            "ok": self.ok,
            "kind": self.kind,
            "checks": {str(k): v for k, v in sorted(self.checks.items())},
            **self.details,
            "failure": None if self.failure is None else self.failure.to_json(),
        }


@contextmanager
def reporting(report: VerificationReport | StepReport) -> Iterator[None]:
    """Attach ``report`` to a :class:`VerificationError` raised inside, and its failure to the report."""
    try:
        yield
    except VerificationError as exc:
        report.failure = exc.failure
        exc.report = report
        raise
