"""The partner trust file (``trust.json``) and the key ring a verifier follows.

A record verifies only under a key whose ``[validFromIndex, validUntilIndex)``
range holds its index and whose ``compromisedFromIndex`` (if set) is greater
than that index. ``KeyRing`` starts from a trust file and follows the key
records found in the log (rotations and compromises). The optional
``witnessPolicy`` member is a C2SP tlog-policy text (contracts/LOG.md §9.6):
with it, only checkpoints cosigned by a quorum of witnesses anchor records.
The optional ``credentialKeys`` member lists credential keys (same entries as
``recordKeys``); the ring follows the log's credential-key records for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.errors import ContractError, TrustError
from certlife.contracts.notes import NoteVerifier
from certlife.contracts.policy import WitnessPolicy
from certlife.contracts.records import Record, verify_record_signature
from certlife.contracts.trusted_keys import CredentialKeyRing, TrustedKey, parse_credential_keys, parse_key
from certlife.contracts.trusted_keys import malformed as _bad

TRUST_VERSION = 1
_MEMBERS = {"v", "origin", "recordKeys", "noteKeys"}
_OPTIONAL = {"witnessPolicy", "credentialKeys"}

__all__ = ["TRUST_VERSION", "CredentialKeyRing", "KeyRing", "TrustFile", "TrustedKey"]


@dataclass(frozen=True)
class TrustFile:
    """What a partner trusts: the log origin, record keys, checkpoint note keys, witness policy.

    ``witness_policy`` is the tlog-policy text of the optional ``witnessPolicy``
    member (checked when parsed); :attr:`policy` is it parsed, or None.
    ``credential_keys`` are the optional ``credentialKeys`` (empty: the member is absent).
    """

    origin: str
    record_keys: tuple[TrustedKey, ...]
    note_keys: tuple[str, ...]
    witness_policy: str | None = None
    credential_keys: tuple[TrustedKey, ...] = ()

    @cached_property
    def policy(self) -> WitnessPolicy | None:
        """The parsed witness policy, or None when the trust file has none."""
        return None if self.witness_policy is None else WitnessPolicy.parse(self.witness_policy)

    @classmethod
    def from_dict(cls, data: Any) -> TrustFile:
        """Build from a parsed JSON object, checking every member strictly."""
        if type(data) is not dict or not _MEMBERS <= data.keys() <= _MEMBERS | _OPTIONAL:
            raise _bad(
                "needs exactly the members v, origin, recordKeys, noteKeys "
                "(and optionally witnessPolicy, credentialKeys)"
            )
        if type(data["v"]) is not int or data["v"] != TRUST_VERSION:
            raise _bad("v must be 1")
        if type(data["origin"]) is not str or not data["origin"]:
            raise _bad("origin must be a non-empty string")
        keys, notes = data["recordKeys"], data["noteKeys"]
        if type(keys) is not list or not keys or type(notes) is not list or not notes:
            raise _bad("recordKeys and noteKeys must be non-empty arrays")
        record_keys = tuple(parse_key(entry) for entry in keys)
        if len({k.key_id for k in record_keys}) != len(record_keys):
            raise _bad("duplicate keyId in recordKeys")
        credential_keys = parse_credential_keys(data, {k.key_id for k in record_keys})
        for vkey in notes:
            if type(vkey) is not str:
                raise _bad("noteKeys entries must be strings")
            try:
                NoteVerifier.from_string(vkey)
            except ContractError as exc:
                raise _bad(str(exc)) from None
        policy = data.get("witnessPolicy")
        if "witnessPolicy" in data:
            if type(policy) is not str:
                raise _bad("witnessPolicy must be a string (tlog-policy text)")
            try:
                WitnessPolicy.parse(policy)
            except ContractError as exc:
                raise _bad(f"witnessPolicy: {exc}") from None
        return cls(data["origin"], record_keys, tuple(notes), policy, credential_keys)

    @classmethod
    def from_bytes(cls, data: bytes) -> TrustFile:
        """Parse ``trust.json`` bytes (any JSON layout; duplicate members rejected)."""

        def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            if len({k for k, _ in pairs}) != len(pairs):
                raise _bad("duplicate member")
            return dict(pairs)

        def no_float(text: str) -> Any:
            raise _bad(f"number {text} is not an integer")

        try:
            parsed = json.loads(data, object_pairs_hook=no_duplicates, parse_float=no_float)
        except (ValueError, RecursionError) as exc:
            raise _bad(f"not JSON: {exc}") from None
        return cls.from_dict(parsed)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object of ``trust.json`` (``witnessPolicy`` only when there is one)."""
        data: dict[str, Any] = {
            "v": TRUST_VERSION,
            "origin": self.origin,
            "recordKeys": [k.to_json() for k in self.record_keys],
            "noteKeys": list(self.note_keys),
        }
        if self.witness_policy is not None:
            data["witnessPolicy"] = self.witness_policy
        if self.credential_keys:
            data["credentialKeys"] = [k.to_json() for k in self.credential_keys]
        return data

    def with_policy(self, text: str | None) -> TrustFile:
        """This trust file with another witness policy (``--witness-policy``); raises on a malformed one."""
        if text is not None:
            WitnessPolicy.parse(text)
        return replace(self, witness_policy=text)

    def to_bytes(self) -> bytes:
        """Return the canonical (JCS) encoding, without a trailing newline."""
        return canonical_bytes(self.to_json())


class KeyRing:
    """The record keys a verifier trusts, updated by the key records it verifies."""

    def __init__(self, trust: TrustFile) -> None:
        self.origin = trust.origin
        self._note_keys = trust.note_keys
        self._witness_policy = trust.witness_policy
        self._keys = {k.key_id: k for k in trust.record_keys}
        #: The credential keys, as the trust file and the key records seen so far leave them.
        self.credentials = CredentialKeyRing(trust.credential_keys)

    def key_for(self, key_id: str, index: int) -> TrustedKey:
        """Return the key trusted to have signed record ``index``, or raise TrustError."""
        key = self._keys.get(key_id)
        if key is None:
            raise TrustError(f"record {index}: unknown key {key_id}", code="unknown-key")
        if not key.in_range(index):
            raise TrustError(
                f"record {index}: key {key_id} is valid only in "
                f"[{key.valid_from_index}, {key.valid_until_index})",
                code="key-out-of-range",
            )
        if key.compromised_at(index):
            raise TrustError(
                f"record {index}: key {key_id} is compromised from index {key.compromised_from_index}",
                code="key-compromised",
            )
        return key

    def verify(self, record: Record) -> TrustedKey:
        """Check a record's signature under the trusted key, then apply key records."""
        key = self.key_for(record.key_id, record.index)
        verify_record_signature(record, key.public_raw)
        if record.kind == "key":
            self.apply_key_record(record)
        return key

    def apply_key_record(self, record: Record) -> None:
        """Follow a verified key record: rotation, compromise or credential key announcement."""
        if record.action == "rotate":
            self.apply_rotation(record)
        elif record.action == "credential-key":
            self.apply_credential_key(record)
        else:
            self.apply_compromise(record)

    def apply_credential_key(self, record: Record) -> None:
        """Follow a verified credential key announcement (LOG.md §4.3); TrustError if it is impossible."""
        new_id, new_public = record.new_key_id, record.new_key_public
        if record.action != "credential-key" or new_id is None or new_public is None:
            raise TrustError(
                f"record {record.index} is not a credential key announcement", code="not-credential"
            )
        if new_id in self._keys:
            raise TrustError(f"record {record.index}: key {new_id} is a record key, not a credential key")
        self.credentials.announce(new_id, new_public, record.index)

    def apply_rotation(self, record: Record) -> None:
        """Follow a verified rotation: new key from index+1, outgoing key until index+1."""
        new_id, new_public = record.new_key_id, record.new_key_public
        if record.action != "rotate" or new_id is None or new_public is None:
            raise TrustError(f"record {record.index} is not a rotation", code="not-rotation")
        boundary = record.index + 1
        outgoing = self.key_for(record.key_id, record.index)
        until = outgoing.valid_until_index
        self._keys[outgoing.key_id] = replace(
            outgoing, valid_until_index=boundary if until is None else min(until, boundary)
        )
        if new_id in self.credentials:
            raise TrustError(f"record {record.index}: key {new_id} is a credential key, not a record key")
        known = self._keys.get(new_id)
        if known is not None and known.valid_from_index > boundary:
            known = replace(known, valid_from_index=boundary)
        self._keys[new_id] = known or TrustedKey(new_id, new_public, boundary)

    def apply_compromise(self, record: Record) -> None:
        """Follow a verified compromise notice: distrust the subject key from its index."""
        subject, start = record.subject_key_id, record.compromised_from_index
        if record.action != "compromise" or subject is None or start is None:
            raise TrustError(f"record {record.index} is not a compromise", code="not-compromise")
        key = self._keys.get(subject)
        if key is None and subject in self.credentials:
            self.credentials.compromise(subject, start)
            return
        if key is None:
            raise TrustError(f"record {record.index}: unknown key {subject}", code="unknown-key")
        current = key.compromised_from_index
        self._keys[subject] = replace(
            key, compromised_from_index=start if current is None else min(current, start)
        )

    def trusted_keys(self) -> list[TrustedKey]:
        """Return the current state of every known record key."""
        return list(self._keys.values())

    def trust_file(self) -> TrustFile:
        """Return a trust file describing the current state of the ring."""
        return TrustFile(
            self.origin,
            tuple(self._keys.values()),
            self._note_keys,
            self._witness_policy,
            tuple(self.credentials.trusted_keys()),
        )

    def note_verifiers(self) -> list[NoteVerifier]:
        """Return verifiers for the checkpoint note keys."""
        return [NoteVerifier.from_string(v) for v in self._note_keys]
