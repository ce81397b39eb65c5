"""The steps of ``certverify credential`` against a verified log, each failing with its own code.

In order (CREDENTIALS.md, the design's failure codes):

1. ``credential`` — the file parses as a certlife credential of this log
   (``credential-format``) and its proof verifies (``credential-signature``)
   under its key, which must be a credential key of the log in force at
   ``logSize - 1`` (``credential-key-unknown``, ``-out-of-range``, ``-compromised``).
2. ``credential-record`` — the log's record ``logRecord.index`` is the
   certificate's, has the credential's SHA-256, and the credential is exactly
   the one built from it with the certificate's list index
   (``credential-mismatch``); no newer record of the certificate is in the log
   (``credential-superseded``).
3. ``statuslist`` (each purpose) — the list parses (``statuslist-format``),
   its proof verifies under a credential key in force at its ``logSize - 1``
   (``statuslist-signature``), the SHA-256 of its exact bytes is committed by
   a ``statuslist`` record of the verified log for that purpose and log size
   (``statuslist-not-committed``), it is the newest list of its purpose the
   log commits, and it reflects the credential's record (``statuslist-stale``).
4. ``status`` — the certificate's bits (``status-revoked``, ``status-suspended``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from certlife.contracts.credentials.check import (
    Credential,
    check_credential_against_record,
    check_status,
    parse_credential,
)
from certlife.contracts.credentials.errors import CREDENTIAL_CODES, CredentialError
from certlife.contracts.credentials.proof import verify_document
from certlife.contracts.credentials.statuslist import StatusList, parse_status_list
from certlife.contracts.errors import ContractError
from certlife.contracts.trust import TrustedKey
from certlife.contracts.verification import VerificationError, VerificationReport
from certlife.contracts.verification.at_instant import ChainRecord, chain_of
from certlife.contracts.verification.commitments import CredentialState, StatusListCommitment
from certlife.contracts.verification.failures import fail
from certlife.services.partner.log_keeper import Kept


def failure(
    code: str, message: str, *, index: int | None = None, number: str | None = None
) -> VerificationError:
    """The VerificationError of failure ``code`` (a credential code; its check is the registry's)."""
    return fail(code, message, index=index, certificate=number)


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class CredentialChecks:
    """Runs the steps over one verified log (its report and what was kept of it)."""

    def __init__(self, report: VerificationReport, kept: Kept) -> None:
        if report.credentials is None:  # pragma: no cover - every finished verification sets it
            raise RuntimeError("the verification report holds no credential state")
        self.report, self.kept = report, kept
        self.state: CredentialState = report.credentials
        self.checks: Counter[str] = Counter()
        self.chain: list[ChainRecord] = []

    def _key(self, key_id: str, index: int, code: str | None, what: str) -> TrustedKey:
        """Credential key ``key_id`` in force at ``index``; its TrustError becomes ``code`` (or its own)."""
        try:
            return self.state.key_for(key_id, index)
        except ContractError as exc:
            own = exc.code if exc.code in CREDENTIAL_CODES else "credential-key-unknown"
            raise failure(code or own, f"{what}: {exc}", index=index) from None

    def credential(self, raw: bytes) -> Credential:
        """Step 1: parse the credential, find its key, verify its proof."""
        try:
            cred = parse_credential(raw)
        except CredentialError as exc:
            raise failure(exc.code, str(exc)) from None
        if cred.origin != self.report.origin:
            message = f"a credential of log {cred.origin!r}, not of the trusted log {self.report.origin!r}"
            raise failure("credential-mismatch", message, number=cred.number)
        if cred.log_size > self.report.records:
            message = (
                f"the credential was built from a log of {cred.log_size} records; the log given holds "
                f"{self.report.records}: give a newer one"
            )
            raise failure("credential-mismatch", message, number=cred.number)
        key = self._key(cred.key_id, cred.log_size - 1, None, "credential")
        try:
            verify_document(cred.document, key.public_raw)
        except CredentialError as exc:
            raise failure(exc.code, f"credential: {exc}", number=cred.number) from None
        self.checks["credential"] += 1
        return cred

    def record(self, cred: Credential) -> ChainRecord:
        """Step 2: the credential is its log record's, and that record is the certificate's newest."""
        number, index = cred.number, cred.record_index
        self.chain = chain_of(number, self.kept.records, self.kept.leaves)
        record = next((r for r in self.chain if r.index == index), None)
        if record is None:
            message = f"record {index} of the log is not a record of certificate {number}"
            raise failure("credential-mismatch", message, index=index, number=number)
        list_index = self.kept.issued_before(self.chain[0].index)
        try:
            check_credential_against_record(cred, record.raw, list_index)
        except CredentialError as exc:
            raise failure(exc.code, str(exc), index=index, number=number) from None
        newest = self.chain[-1]
        if newest.index != index:
            message = (
                f"the log has a newer record of the certificate: index {newest.index} "
                f"(seq {newest.seq}, {newest.event} -> {newest.status}, effective {newest.effective_at})"
            )
            raise failure("credential-superseded", message, index=newest.index, number=number)
        self.checks["credential-record"] += 1
        return record

    def status_list(self, cred: Credential, raw: bytes) -> tuple[StatusList, StatusListCommitment]:
        """Step 3 for one list: format, proof, commitment, newest of its purpose."""
        number = cred.number
        try:
            parsed = parse_status_list(raw)
        except CredentialError as exc:
            raise failure("statuslist-format", str(exc), number=number) from None
        what = f"{parsed.purpose} list"
        key = self._key(parsed.key_id, max(parsed.log_size - 1, 0), "statuslist-signature", what)
        try:
            verify_document(parsed.document, key.public_raw)
        except CredentialError as exc:
            code = "statuslist-format" if exc.code == "credential-format" else "statuslist-signature"
            raise failure(code, f"{what}: {exc}", number=number) from None
        digest = _sha256(raw)
        commitment = self.state.committed(digest)
        if commitment is None:
            message = f"{what}: no statuslist record of the verified log commits its SHA-256 {digest}"
            raise failure("statuslist-not-committed", message, number=number)
        if (commitment.purpose, commitment.log_size) != (parsed.purpose, parsed.log_size):
            message = (
                f"{what}: its SHA-256 is committed at index {commitment.index} as the {commitment.purpose} "
                f"list of log size {commitment.log_size}, not of log size {parsed.log_size}"
            )
            raise failure("statuslist-not-committed", message, index=commitment.index, number=number)
        latest = self.state.latest(parsed.purpose)
        if latest is not None and latest.sha256 != digest:
            message = (
                f"{what} of log size {parsed.log_size} is not the newest: the log commits the list of "
                f"log size {latest.log_size} at index {latest.index}"
            )
            raise failure("statuslist-stale", message, index=latest.index, number=number)
        self.checks["statuslist"] += 1
        return parsed, commitment

    def status(self, cred: Credential, parsed: StatusList) -> None:
        """Step 4 (and the list's staleness against the credential): the certificate's bit."""
        try:
            check_status(cred, parsed)
        except CredentialError as exc:
            raise failure(exc.code, str(exc), index=cred.record_index, number=cred.number) from None
        self.checks["status"] += 1

    def commitment_record(self, commitment: StatusListCommitment) -> bytes | None:
        """The bytes of the ``statuslist`` record behind ``commitment`` (kept while verifying)."""
        leaves = self.kept.leaves
        at = 32 * commitment.index
        from certlife.contracts.merkle import leaf_hash

        for raw in self.kept.lists:
            if leaves[at : at + 32] == leaf_hash(raw):
                return raw
        return None


def credential_json(cred: Credential) -> dict[str, Any]:
    """The ``credential`` member of the report."""
    return {
        "id": cred.document.get("id"),
        "number": cred.number,
        "recordIndex": cred.record_index,
        "seq": cred.seq,
        "logSize": cred.log_size,
        "listIndex": cred.list_index,
        "keyId": cred.key_id,
        "status": cred.document["credentialSubject"].get("status"),
    }
