"""What a verified log says about Verifiable Credentials: credential keys and committed status lists.

A whole-log verification (:class:`~certlife.contracts.verification.LogVerifier`)
keeps, besides the record checks, the credential keys the trust file and the
log's key records leave (contracts/LOG.md §4.3) and every ``statuslist``
record's commitment (§4.4): the SHA-256 of a published status list credential,
with the index of the record, the purpose, the list id and the log size the list
reflects. ``certverify credential`` asks this state two questions: *is this list
committed?* (:meth:`CredentialState.committed`) and *was credential key K in
force at index n?* (:meth:`CredentialState.key_for`).
"""

from __future__ import annotations

from dataclasses import dataclass

from certlife.contracts.records import Record
from certlife.contracts.trusted_keys import CredentialKeyRing, TrustedKey


@dataclass(frozen=True)
class StatusListCommitment:
    """One ``statuslist`` record: ``sha256`` (hex) of the list's exact bytes, committed at ``index``."""

    sha256: str
    index: int
    purpose: str
    log_size: int
    list_id: str

    @classmethod
    def of(cls, record: Record) -> StatusListCommitment:
        """The commitment a parsed, verified ``statuslist`` record makes."""
        return cls(record.list_sha256, record.index, record.purpose, record.log_size, record.list_id)


class CredentialState:
    """Credential keys and status list commitments of a verified log (as far as it was read).

    ``keys`` is the verifier's credential key ring (it follows later records too);
    ``lists`` maps SHA-256 hex to the first record committing those bytes.
    """

    def __init__(self, keys: CredentialKeyRing, lists: dict[str, StatusListCommitment]) -> None:
        self._keys = keys
        self._lists = lists

    def committed(self, sha256_hex: str) -> StatusListCommitment | None:
        """The commitment of the list whose exact bytes hash to ``sha256_hex``, or None."""
        return self._lists.get(sha256_hex)

    def commitments(self) -> list[StatusListCommitment]:
        """Every commitment, in log order."""
        return sorted(self._lists.values(), key=lambda c: c.index)

    def latest(self, purpose: str) -> StatusListCommitment | None:
        """The newest commitment of a list of ``purpose``, or None."""
        found = [c for c in self._lists.values() if c.purpose == purpose]
        return max(found, key=lambda c: c.index, default=None)

    def key_for(self, key_id: str, index: int) -> TrustedKey:
        """Credential key ``key_id`` if it was in force at log index ``index``; else TrustError
        with code ``credential-key-unknown``, ``credential-key-out-of-range`` or
        ``credential-key-compromised`` (contracts/LOG.md §10.1's rule).
        """
        return self._keys.key_for(key_id, index)

    def key_in_force(self, index: int) -> TrustedKey | None:
        """The credential key that signs at log index ``index`` (the newest in force), or None."""
        return self._keys.in_force(index)

    def credential_keys(self) -> list[TrustedKey]:
        """Every known credential key as the log left it (``credentialKeys`` of a trust file)."""
        return self._keys.trusted_keys()
