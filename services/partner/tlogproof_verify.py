"""``certverify proof FILE`` for a C2SP tlog-proof (contracts/BUNDLE.md §4).

``certverify proof`` reads the file once and tells the two formats apart by
the first line: ``c2sp.org/tlog-proof@…`` is a tlog-proof, anything else a
proof bundle. A malformed tlog-proof is an input error (exit 2, one line,
code ``malformed-tlog-proof``); a well-formed one that does not verify is a
verification failure (exit 1, with the report), as for bundles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from certlife.contracts.tlogproof import TlogProofError, is_tlog_proof
from certlife.services.partner.inputs import SourceError

if TYPE_CHECKING:
    from certlife.contracts.policy import WitnessPolicy
    from certlife.contracts.trust import TrustFile

__all__ = ["is_tlog_proof", "verify_tlog_proof_file"]


def verify_tlog_proof_file(
    data: bytes, trust: TrustFile, known: str | None = None, policy: WitnessPolicy | None = None
) -> dict[str, Any]:
    """Verify tlog-proof bytes; return the JSON report, or raise VerificationError.

    A malformed file is a :class:`SourceError` (exit 2) keeping the code ``malformed-tlog-proof``.
    """
    from certlife.contracts.verification.tlogproof import verify_tlog_proof

    try:
        return verify_tlog_proof(data, trust, known, policy).to_json()
    except TlogProofError as exc:
        raise SourceError(str(exc), code=exc.code) from None
