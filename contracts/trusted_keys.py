"""Trusted Ed25519 keys and their index ranges (contracts/LOG.md §10.1), record and credential keys.

A :class:`TrustedKey` is an entry of ``trust.json``'s ``recordKeys`` or
``credentialKeys``. :class:`CredentialKeyRing` follows the credential keys the
log announces (``action: "credential-key"``) and the compromise markers naming
one: a credential key K is *in force at index n* by the same rule as a record
key (``validFromIndex <= n < validUntilIndex``, not compromised at ``n``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from certlife.contracts.errors import TrustError
from certlife.contracts.keys import b64decode_strict, key_id

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
        """Return the ``recordKeys`` (or ``credentialKeys``) entry of this key."""
        return {
            "keyId": self.key_id,
            "publicKey": base64.b64encode(self.public_raw).decode(),
            "validFromIndex": self.valid_from_index,
            "validUntilIndex": self.valid_until_index,
            "compromisedFromIndex": self.compromised_from_index,
        }


def malformed(why: str) -> TrustError:
    """The ``malformed-trust`` error of a trust file breaking a rule."""
    return TrustError(f"malformed trust file: {why}", code="malformed-trust")


def _opt_index(entry: dict[str, Any], name: str) -> int | None:
    value = entry[name]
    if value is not None and (type(value) is not int or value < 0):
        raise malformed(f"{name} must be a non-negative integer or null")
    return value


def parse_key(entry: Any, member: str = "recordKeys") -> TrustedKey:
    """Parse one entry of ``recordKeys`` or ``credentialKeys`` (``member``), strictly."""
    if type(entry) is not dict or entry.keys() != _KEY_MEMBERS:
        raise malformed(f"each {member} entry has exactly {sorted(_KEY_MEMBERS)}")
    try:
        public = b64decode_strict(entry["publicKey"])
    except (ValueError, TypeError):
        raise malformed("publicKey is not base64") from None
    if len(public) != 32 or entry["keyId"] != key_id(public):
        raise malformed(f"keyId {entry['keyId']!r} does not match a 32-byte publicKey")
    start = _opt_index(entry, "validFromIndex")
    until = _opt_index(entry, "validUntilIndex")
    if start is None or (until is not None and until <= start):
        raise malformed(f"key {entry['keyId']}: validFromIndex must be set and below validUntilIndex")
    return TrustedKey(entry["keyId"], public, start, until, _opt_index(entry, "compromisedFromIndex"))


class CredentialKeyRing:
    """The credential keys a verifier trusts, updated by the log's credential-key and compromise records.

    Announcing key K at index ``i`` trusts K from ``i + 1`` (an entry the trust
    file already has is kept, its ``validFromIndex`` lowered to ``i + 1`` if it was
    larger) and ends, at ``i + 1``, every other credential key in force at ``i``.
    """

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._keys = {k.key_id: k for k in keys}

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def trusted_keys(self) -> list[TrustedKey]:
        """The current state of every known credential key."""
        return list(self._keys.values())

    def announce(self, kid: str, public: bytes, index: int) -> None:
        """Follow a verified announcement at ``index``; TrustError if it re-opens an ended key."""
        boundary = index + 1
        known = self._keys.get(kid)
        if known is not None:
            if known.public_raw != public:
                raise TrustError(f"record {index}: two different public keys have keyId {kid}")
            if known.valid_until_index is not None and known.valid_until_index <= boundary:
                raise TrustError(f"record {index}: credential key {kid} was already replaced")
            if known.valid_from_index > boundary:
                known = replace(known, valid_from_index=boundary)
        for other in list(self._keys.values()):
            until = other.valid_until_index
            if (
                other.key_id != kid
                and other.valid_from_index <= index
                and (until is None or until > boundary)
            ):
                self._keys[other.key_id] = replace(other, valid_until_index=boundary)
        self._keys[kid] = known or TrustedKey(kid, public, boundary)

    def compromise(self, kid: str, start: int) -> None:
        """Distrust credential key ``kid`` from index ``start`` on (the smaller start wins)."""
        key = self._keys[kid]
        current = key.compromised_from_index
        self._keys[kid] = replace(
            key, compromised_from_index=start if current is None else min(current, start)
        )

    def key_for(self, kid: str, index: int) -> TrustedKey:
        """The credential key ``kid`` if it is in force at log index ``index``, else TrustError.

        Codes: ``credential-key-unknown``, ``credential-key-out-of-range``,
        ``credential-key-compromised``.
        """
        key = self._keys.get(kid)
        if key is None:
            raise TrustError(
                f"credential key {kid} is not announced in the log", code="credential-key-unknown"
            )
        if not key.in_range(index):
            raise TrustError(
                f"credential key {kid} is in force only in [{key.valid_from_index}, {key.valid_until_index}), "
                f"not at index {index}",
                code="credential-key-out-of-range",
            )
        if key.compromised_at(index):
            raise TrustError(
                f"credential key {kid} is compromised from index {key.compromised_from_index}",
                code="credential-key-compromised",
            )
        return key

    def in_force(self, index: int) -> TrustedKey | None:
        """The credential key that signs at index ``index`` (the newest in force there), or None."""
        usable = [k for k in self._keys.values() if k.covers(index)]
        return max(usable, key=lambda k: k.valid_from_index, default=None)


def parse_credential_keys(data: dict[str, Any], record_ids: set[str]) -> tuple[TrustedKey, ...]:
    """The optional ``credentialKeys`` (absent: none; when present a non-empty array)."""
    if "credentialKeys" not in data:
        return ()
    entries = data["credentialKeys"]
    if type(entries) is not list or not entries:
        raise malformed("credentialKeys must be a non-empty array (absent when there are none)")
    keys = tuple(parse_key(entry, "credentialKeys") for entry in entries)
    ids = {k.key_id for k in keys}
    if len(ids) != len(keys):
        raise malformed("duplicate keyId in credentialKeys")
    if ids & record_ids:
        raise malformed(f"keyId {sorted(ids & record_ids)[0]} is both a record key and a credential key")
    return keys
