"""The partner trust file (``trust.json``) and the key ring a verifier follows.

A record verifies only under a key whose ``[validFromIndex, validUntilIndex)``
range holds its index and whose ``compromisedFromIndex`` (if set) is greater
than that index. ``KeyRing`` starts from a trust file and follows the key
records found in the log (rotations and compromises). The optional
``witnessPolicy`` member is a C2SP tlog-policy text (contracts/LOG.md §9.6):
with it, only checkpoints cosigned by a quorum of witnesses anchor records.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.errors import ContractError, TrustError
from certlife.contracts.keys import b64decode_strict, key_id
from certlife.contracts.notes import NoteVerifier
from certlife.contracts.policy import WitnessPolicy
from certlife.contracts.records import Record, verify_record_signature

TRUST_VERSION = 1
_MEMBERS = {"v", "origin", "recordKeys", "noteKeys"}
_KEY_MEMBERS = {"keyId", "publicKey", "validFromIndex", "validUntilIndex", "compromisedFromIndex"}


@dataclass(frozen=True)
class TrustedKey:
    """A record signing key and the index range in which its signatures count."""

    key_id: str
    public_raw: bytes
    valid_from_index: int = 0
    valid_until_index: int | None = None
    compromised_from_index: int | None = None

    def in_range(self, index: int) -> bool:
        """True if ``index`` is within ``[validFromIndex, validUntilIndex)``."""
        until = self.valid_until_index
        return self.valid_from_index <= index and (until is None or index < until)

    def compromised_at(self, index: int) -> bool:
        """True if the key is declared compromised at ``index``."""
        return self.compromised_from_index is not None and index >= self.compromised_from_index

    def covers(self, index: int) -> bool:
        """True if a signature by this key on record ``index`` is trusted."""
        return self.in_range(index) and not self.compromised_at(index)

    def to_json(self) -> dict[str, Any]:
        """Return the ``recordKeys`` entry of this key."""
        return {
            "keyId": self.key_id,
            "publicKey": base64.b64encode(self.public_raw).decode(),
            "validFromIndex": self.valid_from_index,
            "validUntilIndex": self.valid_until_index,
            "compromisedFromIndex": self.compromised_from_index,
        }


def _bad(why: str) -> TrustError:
    return TrustError(f"malformed trust file: {why}", code="malformed-trust")


def _opt_index(entry: dict[str, Any], name: str) -> int | None:
    value = entry[name]
    if value is not None and (type(value) is not int or value < 0):
        raise _bad(f"{name} must be a non-negative integer or null")
    return value


def _parse_key(entry: Any) -> TrustedKey:
    if type(entry) is not dict or entry.keys() != _KEY_MEMBERS:
        raise _bad(f"each recordKeys entry has exactly {sorted(_KEY_MEMBERS)}")
    try:
        public = b64decode_strict(entry["publicKey"])
    except (ValueError, TypeError):
        raise _bad("publicKey is not base64") from None
    if len(public) != 32 or entry["keyId"] != key_id(public):
        raise _bad(f"keyId {entry['keyId']!r} does not match a 32-byte publicKey")
    start = _opt_index(entry, "validFromIndex")
    until = _opt_index(entry, "validUntilIndex")
    if start is None or (until is not None and until <= start):
        raise _bad(f"key {entry['keyId']}: validFromIndex must be set and below validUntilIndex")
    return TrustedKey(entry["keyId"], public, start, until, _opt_index(entry, "compromisedFromIndex"))


@dataclass(frozen=True)
class TrustFile:
    """What a partner trusts: the log origin, record keys, checkpoint note keys, witness policy.

    ``witness_policy`` is the tlog-policy text of the optional ``witnessPolicy``
    member (checked when parsed); :attr:`policy` is it parsed, or None.
    """

    origin: str
    record_keys: tuple[TrustedKey, ...]
    note_keys: tuple[str, ...]
    witness_policy: str | None = None

    @cached_property
    def policy(self) -> WitnessPolicy | None:
        """The parsed witness policy, or None when the trust file has none."""
        return None if self.witness_policy is None else WitnessPolicy.parse(self.witness_policy)

    @classmethod
    def from_dict(cls, data: Any) -> TrustFile:
        """Build from a parsed JSON object, checking every member strictly."""
        if type(data) is not dict or not _MEMBERS <= data.keys() <= {*_MEMBERS, "witnessPolicy"}:
            raise _bad(
                "needs exactly the members v, origin, recordKeys, noteKeys (and optionally witnessPolicy)"
            )
        if type(data["v"]) is not int or data["v"] != TRUST_VERSION:
            raise _bad("v must be 1")
        if type(data["origin"]) is not str or not data["origin"]:
            raise _bad("origin must be a non-empty string")
        keys, notes = data["recordKeys"], data["noteKeys"]
        if type(keys) is not list or not keys or type(notes) is not list or not notes:
            raise _bad("recordKeys and noteKeys must be non-empty arrays")
        record_keys = tuple(_parse_key(entry) for entry in keys)
        if len({k.key_id for k in record_keys}) != len(record_keys):
            raise _bad("duplicate keyId in recordKeys")
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
        return cls(data["origin"], record_keys, tuple(notes), policy)

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
        if record.action == "rotate":
            self.apply_rotation(record)
        elif record.action == "compromise":
            self.apply_compromise(record)
        return key

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
        return TrustFile(self.origin, tuple(self._keys.values()), self._note_keys, self._witness_policy)

    def note_verifiers(self) -> list[NoteVerifier]:
        """Return verifiers for the checkpoint note keys."""
        return [NoteVerifier.from_string(v) for v in self._note_keys]
