"""Verification failures: stable codes, the check each belongs to, one error type.

Every failed check raises :class:`VerificationError` carrying a
:class:`Failure`: the failure code, the check that failed, and where it failed
(log index, certificate number, input position, checkpoint size).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

from certlife.contracts.errors import ContractError


class Check(StrEnum):
    """Names of the checks a verifier performs (keys of a report's ``checks``)."""

    CANONICAL = "canonical"
    ORIGIN = "origin"
    INDEX = "index"
    KEY = "key"
    SIGNATURE = "signature"
    CHAIN = "chain"
    TRANSITION = "transition"
    KEY_RECORD = "key-record"
    STATUS_LIST = "statuslist"
    CHECKPOINT_SIGNATURE = "checkpoint-signature"
    CHECKPOINT_ORIGIN = "checkpoint-origin"
    CHECKPOINT_CONSISTENCY = "checkpoint-consistency"
    CHECKPOINT_ROOT = "checkpoint-root"
    CHECKPOINT_WITNESSES = "checkpoint-witnesses"
    BUNDLE = "bundle"
    INCLUSION = "inclusion"
    CONSISTENCY = "consistency"
    FRESHNESS = "freshness"
    LOOKUP = "lookup"
    # certverify credential (contracts/CREDENTIALS.md §9)
    CREDENTIAL = "credential"
    CREDENTIAL_RECORD = "credential-record"
    STATUS = "status"


_C = Check
#: Every failure code and the check it belongs to.
FAILURE_CODES: dict[str, Check] = {
    "not-json": _C.CANONICAL,
    "not-canonical": _C.CANONICAL,
    "record-format": _C.CANONICAL,
    "record-too-large": _C.CANONICAL,
    "wrong-origin": _C.ORIGIN,
    "index-gap": _C.INDEX,
    "equivocation": _C.INDEX,
    "unknown-key": _C.KEY,
    "key-out-of-range": _C.KEY,
    "key-compromised": _C.KEY,
    "key-conflict": _C.KEY,
    "bad-signature": _C.SIGNATURE,
    "chain-seq": _C.CHAIN,
    "chain-prev": _C.CHAIN,
    "illegal-transition": _C.TRANSITION,
    "status-mismatch": _C.TRANSITION,
    "key-record": _C.KEY_RECORD,
    "checkpoint-malformed": _C.CHECKPOINT_SIGNATURE,
    "checkpoint-unverified": _C.CHECKPOINT_SIGNATURE,
    "checkpoint-bad-signature": _C.CHECKPOINT_SIGNATURE,
    "checkpoint-wrong-origin": _C.CHECKPOINT_ORIGIN,
    "checkpoint-rollback": _C.CHECKPOINT_CONSISTENCY,
    "checkpoint-fork": _C.CHECKPOINT_CONSISTENCY,
    "checkpoint-misfiled": _C.CHECKPOINT_CONSISTENCY,
    "checkpoint-quorum": _C.CHECKPOINT_WITNESSES,
    "root-mismatch": _C.CHECKPOINT_ROOT,
    "log-truncated": _C.CHECKPOINT_ROOT,
    "tile-mismatch": _C.CHECKPOINT_ROOT,  # a log read from tiles: a hash tile (TILES.md §7)
    "entries-mismatch": _C.CHECKPOINT_ROOT,  # a log read from tiles: an entry bundle
    "bundle-format": _C.BUNDLE,
    "tree-size-mismatch": _C.INCLUSION,
    "inclusion-proof": _C.INCLUSION,
    "consistency-missing": _C.CONSISTENCY,
    "consistency-proof": _C.CONSISTENCY,
    "unused-proof": _C.CONSISTENCY,
    "stale-checkpoint": _C.FRESHNESS,
    "not-anchored": _C.FRESHNESS,
    "certificate-not-found": _C.LOOKUP,
    "record-parked": _C.LOOKUP,
    "not-yet-issued": _C.LOOKUP,  # certverify status --at before the first record (LOG.md §11.5.1)
    # certverify credential (CREDENTIALS.md §9; contracts.credentials.errors.CREDENTIAL_CODES)
    "credential-format": _C.CREDENTIAL,
    "credential-signature": _C.CREDENTIAL,
    "credential-key-unknown": _C.CREDENTIAL,
    "credential-key-out-of-range": _C.CREDENTIAL,
    "credential-key-compromised": _C.CREDENTIAL,
    "credential-mismatch": _C.CREDENTIAL_RECORD,
    "credential-superseded": _C.CREDENTIAL_RECORD,
    "statuslist-format": _C.STATUS_LIST,
    "statuslist-signature": _C.STATUS_LIST,
    "statuslist-not-committed": _C.STATUS_LIST,
    "statuslist-stale": _C.STATUS_LIST,
    "status-revoked": _C.STATUS,
    "status-suspended": _C.STATUS,
}


class Where(TypedDict, total=False):
    """Where a failure happened (keyword arguments of :func:`fail`)."""

    index: int | None
    certificate: str | None
    position: int | None
    checkpoint: int | None


@dataclass(frozen=True)
class Failure:
    """What failed and where: code, check, message, index, certificate, position, checkpoint."""

    code: str
    check: str
    message: str
    index: int | None = None
    certificate: str | None = None
    position: int | None = None
    checkpoint: int | None = None

    def describe(self) -> str:
        """One line for people: where, which check, why."""
        where = []
        if self.index is not None:
            where.append(f"index {self.index}")
        if self.certificate is not None:
            where.append(f"certificate {self.certificate}")
        if self.checkpoint is not None:
            where.append(f"checkpoint of size {self.checkpoint}")
        if self.position is not None:
            where.append(f"input position {self.position}")
        prefix = ", ".join(where) + ": " if where else ""
        return f"{prefix}check '{self.check}' failed ({self.code}): {self.message}"

    def to_json(self) -> dict[str, Any]:
        """Return the ``failure`` member of a JSON report."""
        return {
            "code": self.code,
            "check": self.check,
            "index": self.index,
            "certificate": self.certificate,
            "position": self.position,
            "checkpoint": self.checkpoint,
            "message": self.message,
        }


class VerificationError(ContractError):
    """The one error every failed verification step raises.

    ``failure`` says what failed; ``report`` (set by the log verifier) holds
    the counts of the checks performed up to the failure.
    """

    code = "verification-failed"

    def __init__(self, failure: Failure, report: Any = None) -> None:
        super().__init__(failure.describe(), code=failure.code)
        self.failure = failure
        self.report = report


def fail(
    code: str,
    message: str,
    *,
    index: int | None = None,
    certificate: str | None = None,
    position: int | None = None,
    checkpoint: int | None = None,
) -> VerificationError:
    """Build the :class:`VerificationError` for failure ``code`` (its check is looked up)."""
    check = FAILURE_CODES[code]
    return VerificationError(Failure(code, check.value, message, index, certificate, position, checkpoint))
