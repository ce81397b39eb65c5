"""Key steps: the key in force at an index, and key records (rotations, compromises, credential keys)."""

from __future__ import annotations

from collections import Counter

from certlife.contracts.errors import ContractError
from certlife.contracts.records import parse_record
from certlife.contracts.trust import KeyRing, TrustedKey
from certlife.contracts.verification.facts import RecordFacts
from certlife.contracts.verification.failures import Check, fail

_TRUST_CODES = frozenset({"unknown-key", "key-out-of-range", "key-compromised"})


class KeyUse:
    """The key ring plus, per key, the runs of indexes it signed.

    The runs let a compromise marker that names an earlier index take effect
    on records already seen: any record from that index on signed by the
    compromised key fails, not only the ones that follow the marker.
    """

    def __init__(self, ring: KeyRing, runs: dict[str, list[list[int]]] | None = None) -> None:
        """Follow ``ring``; ``runs`` (a copy is kept): the runs its keys signed so far (keyId -> [start, stop))."""
        self.ring = ring
        self._runs: dict[str, list[list[int]]] = {k: [list(r) for r in v] for k, v in (runs or {}).items()}

    def runs(self) -> dict[str, list[list[int]]]:
        """A copy of the runs of indexes each key signed (keyId -> ``[start, stop)`` runs, in order)."""
        return {k: [list(r) for r in v] for k, v in self._runs.items()}

    def key_in_force(self, f: RecordFacts) -> TrustedKey:
        """Step: the record's key is trusted at its index (range and compromise)."""
        try:
            return self.ring.key_for(f.key_id, f.log_index)
        except ContractError as exc:
            code = exc.code if exc.code in _TRUST_CODES else "unknown-key"
            raise fail(code, str(exc), index=f.log_index, certificate=f.number, position=f.position) from None

    def signed(self, key_id: str, index: int) -> None:
        """Remember that ``key_id`` signed record ``index`` (indexes arrive in order)."""
        runs = self._runs.setdefault(key_id, [])
        if runs and runs[-1][1] == index:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1])

    def signed_run(self, key_id: str, start: int, stop: int) -> None:
        """Remember that ``key_id`` signed records ``start`` to ``stop - 1``."""
        runs = self._runs.setdefault(key_id, [])
        if runs and runs[-1][1] == start:
            runs[-1][1] = stop
        else:
            runs.append([start, stop])

    def apply(self, f: RecordFacts, checks: Counter[str]) -> None:
        """Step: follow a verified key record (rotation, compromise marker, credential key)."""
        assert f.raw is not None  # facts of key records keep their bytes
        record = parse_record(f.raw)
        if record.action == "compromise":
            self._retroactive(record.subject_key_id, record.compromised_from_index, f.log_index)
        try:
            self.ring.apply_key_record(record)
        except ContractError as exc:
            raise fail("key-record", str(exc), index=f.log_index, position=f.position) from None
        checks[Check.KEY_RECORD] += 1

    def _retroactive(self, subject: str | None, start: int | None, marker: int) -> None:
        if subject is None or start is None:
            return
        for run_start, run_end in self._runs.get(subject, ()):
            first = max(run_start, start)
            if first < min(run_end, marker):  # the marker itself may be signed by the subject
                raise fail(
                    "key-compromised",
                    f"record {first} is signed by key {subject}, which record {marker} "
                    f"declares compromised from index {start}",
                    index=first,
                )
