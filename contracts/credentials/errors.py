"""The one error of the credential formats; each failure carries a specific ``code``.

Codes (contracts/CREDENTIALS.md §9; registered with their checks in
``contracts.verification.failures.FAILURE_CODES``): ``credential-format``, ``credential-signature``,
``credential-key-unknown``, ``credential-key-out-of-range``, ``credential-key-compromised``,
``credential-mismatch``, ``credential-superseded``, ``statuslist-format``,
``statuslist-signature``, ``statuslist-not-committed``, ``statuslist-stale``,
``status-revoked``, ``status-suspended``.
"""

from __future__ import annotations

from certlife.contracts.errors import ContractError


class CredentialError(ContractError, code="credential"):
    """A credential, status list or controller document that is malformed or does not verify."""


#: Every code a :class:`CredentialError` may carry, in the order a verifier checks them.
CREDENTIAL_CODES = (
    "credential-format",
    "credential-signature",
    "credential-key-unknown",
    "credential-key-out-of-range",
    "credential-key-compromised",
    "credential-mismatch",
    "credential-superseded",
    "statuslist-format",
    "statuslist-signature",
    "statuslist-not-committed",
    "statuslist-stale",
    "status-revoked",
    "status-suspended",
)
