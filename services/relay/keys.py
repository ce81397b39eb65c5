"""Key transitions in the log: the initial key, rotations, compromise markers, credential keys.

Operators queue a transition (``certctl keys rotate`` / ``certctl keys
compromise`` / ``certctl keys credential announce``) in ``relay_key_requests``,
and the publisher queues status list commitments there; the relay writes each
into the log as a ``kind: "key"`` (or ``"statuslist"``) record in its own
transaction, then switches keys. The key histories in ``relay_keys`` and
``relay_credential_keys`` are derived from the committed key records, so the
same code serves normal operation and catch-up after a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from certlife.contracts.admission import record_content_problem
from certlife.contracts.keys import public_raw
from certlife.contracts.merkle import leaf_hash
from certlife.contracts.records import (
    RecordSigner,
    build_compromise_record,
    build_rotation_record,
    parse_record,
)
from certlife.projections.audit import AUDIT
from certlife.services.relay import credential_keys as credentials
from certlife.services.relay.records import BuiltBatch
from certlife.services.relay.state import RelayState
from certlife.services.relay.store import KeyRequest, RelayStore

log = logging.getLogger("certlife.relay")

if TYPE_CHECKING:
    from certlife.services.relay.relay import Relay


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


async def initial_key(relay: Relay, store: RelayStore) -> str:
    """The key that signs record 0: CERTLIFE_RECORD_KEY_ID, else the oldest key on disk."""
    from certlife.services.relay.records import RelayRefused

    wanted = relay.settings.keys.record_key_id
    ids = relay.keystore.record_key_ids()
    if not ids:
        raise RelayRefused(
            f"no record-signing key in {relay.keystore.directory}: run `certctl keys generate` first"
        )
    kid = wanted or ids[0]
    key = relay.keystore.record_key(kid)
    await store.record_key_history([], [(kid, public_raw(key), 0, None, None)])
    return kid


async def process_requests(relay: Relay, store: RelayStore) -> None:
    """Write each pending key transition into the log as its own transaction."""
    for request in await store.pending_key_requests():
        state = relay.state.copy()
        if request.reason is not None and (bad := record_content_problem({"reason": request.reason})):
            # Never let one request stop the log: refuse it, as an impossible compromise is refused.
            log.error(
                "key request %d refused: its reason breaks the admission rule (%s)",
                request.id,
                bad,
                extra=AUDIT,
            )
            await store.record_key_history([(request.id, -1)], [])
            continue
        if request.action == "rotate":
            if request.new_key_id in (None, state.active_key_id):
                await store.record_key_history([(request.id, state.tree_size)], [])
                continue
            incoming = RecordSigner(relay.keystore.record_key(request.new_key_id))
            record = build_rotation_record(
                origin=relay.origin,
                index=state.tree_size,
                outgoing=relay.signer,
                incoming=incoming,
                recorded_at=_now(),
                reason=request.reason,
            )
            state.active_key_id = incoming.key_id
        elif request.action != "compromise":
            built = await _credential_record(relay, store, state, request)
            if built is None:
                continue
            record = built
        else:
            problem = await _compromise_problem(store, state, request)
            if problem:
                log.error("key request %d refused: %s", request.id, problem, extra=AUDIT)
                await store.record_key_history([(request.id, -1)], [])
                continue
            record = build_compromise_record(
                origin=relay.origin,
                index=state.tree_size,
                signer=relay.signer,
                compromised_key_id=request.subject_key_id or "",
                compromised_from_index=request.compromised_from_index or 0,
                recorded_at=_now(),
                reason=request.reason,
            )
        state.frontier.append(leaf_hash(record))
        await relay.publish(store, state, BuiltBatch(records=[record]), force_checkpoint=True)


async def _credential_record(
    relay: Relay, store: RelayStore, state: RelayState, request: KeyRequest
) -> bytes | None:
    """The record of a credential-key or statuslist request; None when refused or nothing to do."""
    known = {row[0]: row for row in await store.credential_key_history()}
    record_ids = {row[0] for row in await store.key_history()}
    problem = credentials.request_problem(request, record_ids, known)
    if problem is None and request.action == "credential-key" and request.new_key_id in known:
        await store.record_key_history([(request.id, state.tree_size)], [])  # already in force
        return None
    record = None
    if problem is None:
        record = credentials.build_request_record(
            request, origin=relay.origin, index=state.tree_size, signer=relay.signer, recorded_at=_now()
        )
    else:
        log.error("%s request %d refused: %s", request.action, request.id, problem, extra=AUDIT)
    if record is None:
        await store.record_key_history([(request.id, -1)], [])
    return record


async def _compromise_problem(store: RelayStore, state: RelayState, request: KeyRequest) -> str | None:
    """Why a compromise request cannot go into the log, or None."""
    history = {row[0] for row in await store.key_history()}
    subject = request.subject_key_id or ""
    if subject not in history:  # a credential key may be compromised while in force
        if subject not in {row[0] for row in await store.credential_key_history()}:
            return f"key {subject!r} is neither a record key of this log nor an announced credential key"
    elif subject == state.active_key_id:
        return "the key is still active: rotate to a new key first, then mark the old one compromised"
    start = request.compromised_from_index
    if start is None or start < 0 or start > state.tree_size:
        return f"compromise index {start} is outside the log (size {state.tree_size})"
    return None


async def absorb(relay: Relay, store: RelayStore, records: Sequence[bytes]) -> None:
    """Update key history and the signer from committed key records among ``records``."""
    done: list[tuple[int, int]] = []
    keys: list[tuple[str, bytes, int, int | None, int | None]] = []
    # Certificate records change no key: a batch of only those needs no query at all.
    # (A string member holds no unescaped quote, so the marker is the record's own kind.)
    others = [value for value in records if b'"kind":"certificate"' not in value]
    history = {row[0]: row for row in await store.key_history()} if others else {}
    pending = await store.pending_key_requests() if others else []
    issued: credentials.CredentialHistory | None = None
    for value in others:
        rec = parse_record(value)
        if rec.action not in ("rotate", "compromise") or rec.subject_key_id not in (None, *history):
            issued = issued or credentials.CredentialHistory(await store.credential_key_history())
            if rec.action == "compromise" and rec.subject_key_id:
                issued.compromise(rec.subject_key_id, rec.compromised_from_index or 0)
            else:
                done += credentials.absorb_record(rec, issued, pending)
                continue
        if rec.action == "rotate" and rec.new_key_id and rec.new_key_public:
            old = history.get(rec.key_id)
            if old is not None:
                keys.append((old[0], old[1], old[2], rec.index + 1, old[4]))
            keys.append((rec.new_key_id, rec.new_key_public, rec.index + 1, None, None))
            done += [
                (r.id, rec.index) for r in pending if r.action == "rotate" and r.new_key_id == rec.new_key_id
            ]
        elif rec.action == "compromise" and rec.subject_key_id:
            old = history.get(rec.subject_key_id)
            if old is not None:
                keys.append((old[0], old[1], old[2], old[3], rec.compromised_from_index))
            done += [
                (r.id, rec.index)
                for r in pending
                if r.action == "compromise" and r.subject_key_id == rec.subject_key_id
            ]
    credential_rows = [] if issued is None else issued.changed_rows()
    if done or keys or credential_rows:
        await store.record_key_history(done, keys, credential_rows)
    active = relay.state.active_key_id
    if active and relay.has_signer and relay.signer.key_id != active:
        relay.use_signer(RecordSigner(relay.keystore.record_key(active)))
