"""Credential keys and status list commitments in the log: the relay's side (contracts/LOG.md §4.3, §4.4).

``certctl keys credential announce`` queues a ``credential-key`` request and the
publisher queues ``statuslist`` requests, both in ``relay_key_requests``; the
relay turns each into one record signed by its active record key
(:func:`build_request_record`), in its own transaction like a rotation. The
credential key history in ``relay_credential_keys`` is derived from the
committed records (:class:`CredentialHistory`), as ``relay_keys`` is for record
keys.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from certlife.contracts.errors import ContractError
from certlife.contracts.keys import key_id
from certlife.contracts.records import (
    Record,
    RecordSigner,
    build_credential_key_record,
    build_statuslist_record,
)
from certlife.services.relay.store import KeyRequest, KeyRow

log = logging.getLogger("certlife.relay")


def request_problem(request: KeyRequest, record_ids: set[str], credentials: dict[str, KeyRow]) -> str | None:
    """Why a ``credential-key`` request cannot go into the log, or None (``statuslist``: the builder decides)."""
    if request.action != "credential-key":
        return None
    kid, public = request.new_key_id, request.public_key
    if kid is None or public is None or len(public) != 32 or key_id(public) != kid:
        return "the request's public key does not match its key id"
    if kid in record_ids:
        return f"key {kid} is a record key"
    known = credentials.get(kid)
    if known is not None and (known[3] is not None or known[4] is not None):
        return f"credential key {kid} was replaced or compromised: it is never announced again"
    return None


def build_request_record(
    request: KeyRequest, *, origin: str, index: int, signer: RecordSigner, recorded_at: str
) -> bytes | None:
    """The record of a ``credential-key`` or ``statuslist`` request at ``index``; None if it is malformed."""
    try:
        if request.action == "credential-key":
            assert request.public_key is not None  # request_problem checked it
            return build_credential_key_record(
                origin=origin,
                index=index,
                signer=signer,
                credential_public=request.public_key,
                recorded_at=recorded_at,
                reason=request.reason,
            )
        return build_statuslist_record(
            origin=origin,
            index=index,
            signer=signer,
            purpose=request.purpose or "",
            list_id=request.list_id or "",
            log_size=-1 if request.log_size is None else request.log_size,
            sha256=request.sha256 or "",
            recorded_at=recorded_at,
            reason=request.reason,
        )
    except ContractError as exc:
        log.error("%s request %d refused: %s", request.action, request.id, exc)
        return None


class CredentialHistory:
    """``relay_credential_keys`` rows, followed through committed records (credential-key, compromise)."""

    def __init__(self, rows: Sequence[KeyRow]) -> None:
        self.rows = {row[0]: row for row in rows}
        self.changed: set[str] = set()

    def announce(self, kid: str, public: bytes, index: int) -> None:
        """A committed announcement at ``index``: ``kid`` from ``index + 1``, the key before it until then."""
        boundary = index + 1
        for other in list(self.rows.values()):
            until = other[3]
            if other[0] != kid and other[2] <= index and (until is None or until > boundary):
                self._set((other[0], other[1], other[2], boundary, other[4]))
        if kid not in self.rows:
            self._set((kid, public, boundary, None, None))

    def compromise(self, kid: str, start: int) -> bool:
        """A committed compromise of ``kid`` from ``start``; False if ``kid`` is no credential key."""
        row = self.rows.get(kid)
        if row is None:
            return False
        self._set((row[0], row[1], row[2], row[3], start if row[4] is None else min(row[4], start)))
        return True

    def changed_rows(self) -> list[KeyRow]:
        """The rows to upsert."""
        return [self.rows[kid] for kid in sorted(self.changed)]

    def _set(self, row: KeyRow) -> None:
        self.rows[row[0]] = row
        self.changed.add(row[0])


def absorb_record(
    rec: Record, history: CredentialHistory, pending: Sequence[KeyRequest]
) -> list[tuple[int, int]]:
    """Follow one committed credential-key or statuslist record; the requests it fulfils."""
    if rec.kind == "statuslist":
        return [
            (r.id, rec.index)
            for r in pending
            if r.action == "statuslist" and r.sha256 == rec.list_sha256 and r.purpose == rec.purpose
        ]
    kid, public = rec.new_key_id, rec.new_key_public
    if rec.action != "credential-key" or kid is None or public is None:
        return []
    history.announce(kid, public, rec.index)
    return [(r.id, rec.index) for r in pending if r.action == "credential-key" and r.new_key_id == kid]
