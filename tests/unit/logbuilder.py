"""Build small, valid certlife logs in memory for verification tests (deterministic keys)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.records import (
    RecordSigner,
    build_certificate_record,
    build_compromise_record,
    build_credential_key_record,
    build_rotation_record,
    build_statuslist_record,
    record_hash,
)
from certlife.contracts.trust import TrustedKey, TrustFile

ORIGIN = "test.certlife.example/log"


def private_key(label: str) -> Ed25519PrivateKey:
    """A deterministic Ed25519 key for ``label``."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def certificate(number: str) -> dict[str, Any]:
    """Public certificate data for ``number``."""
    return {
        "number": number,
        "scheme": "CB",
        "holder": "Acme Charging GmbH",
        "manufacturer": "Acme Charging GmbH",
        "factories": ["Stuttgart"],
        "product": "DC EV charger",
        "models": ["DC-60"],
        "standards": ["IEC 61851-1:2017"],
        "scope": "conductive charging",
        "validFrom": "2025-01-01",
        "validUntil": "2028-01-01",
    }


class LogBuilder:
    """Appends signed records to an in-memory log and signs checkpoints of it."""

    def __init__(self, origin: str = ORIGIN, label: str = "k0") -> None:
        self.origin = origin
        self.signer = RecordSigner(private_key(label))
        self.first_signer = self.signer
        self.note_signer = NoteSigner(origin, private_key("note"))
        self.records: list[bytes] = []
        self.checkpoints: list[tuple[int, str]] = []
        self.chains: dict[str, tuple[int, str, str]] = {}  # number -> (seq, hash, status)

    def time(self, index: int) -> str:
        """recordedAt of record ``index``: one minute apart from 2025-03-01."""
        return f"2025-03-{1 + index // 1440:02d}T{index // 60 % 24:02d}:{index % 60:02d}:00Z"

    def cert_record(self, number: str, event: str, status: str, **over: Any) -> bytes:
        """Build (not append) the next record of ``number``; ``over`` overrides arguments."""
        seq, prev, _ = self.chains.get(number, (0, None, None))
        index = over.pop("index", len(self.records))
        args: dict[str, Any] = {
            "origin": self.origin,
            "index": index,
            "certificate": certificate(number),
            "event": event,
            "status": status,
            "seq": seq + 1,
            "prev": prev,
            "reason": None,
            "effective_at": self.time(index),
            "recorded_at": self.time(index),
            "signer": self.signer,
        }
        args.update(over)
        return build_certificate_record(**args)

    def add(self, number: str, event: str, status: str, **over: Any) -> bytes:
        """Append the next record of certificate ``number``."""
        raw = self.cert_record(number, event, status, **over)
        self.records.append(raw)
        seq = self.chains.get(number, (0, "", ""))[0]
        self.chains[number] = (seq + 1, record_hash(raw), status)
        return raw

    def issue_many(self, count: int, prefix: str = "C") -> None:
        """Issue ``count`` certificates, then suspend and reinstate every third one."""
        for i in range(count):
            self.add(f"{prefix}-{i:04d}", "issued", "valid")
        for i in range(0, count, 3):
            self.add(f"{prefix}-{i:04d}", "suspended", "suspended")
            self.add(f"{prefix}-{i:04d}", "reinstated", "valid")

    def rotate(self, label: str) -> bytes:
        """Append a rotation to a new key ``label``; it signs from the next record on."""
        incoming = RecordSigner(private_key(label))
        raw = build_rotation_record(
            origin=self.origin,
            index=len(self.records),
            outgoing=self.signer,
            incoming=incoming,
            recorded_at=self.time(len(self.records)),
            reason="scheduled rotation",
        )
        self.records.append(raw)
        self.signer = incoming
        return raw

    def compromise(self, subject: RecordSigner, from_index: int, signer: RecordSigner | None = None) -> bytes:
        """Append a compromise marker for ``subject`` from ``from_index``."""
        raw = build_compromise_record(
            origin=self.origin,
            index=len(self.records),
            signer=signer or self.signer,
            compromised_key_id=subject.key_id,
            compromised_from_index=from_index,
            recorded_at=self.time(len(self.records)),
            reason="key compromised",
        )
        self.records.append(raw)
        return raw

    def announce_credential_key(self, label: str) -> bytes:
        """Append the announcement of credential key ``label``; it signs credentials from the next index on."""
        raw = build_credential_key_record(
            origin=self.origin,
            index=len(self.records),
            signer=self.signer,
            credential_public=RecordSigner(private_key(label)).public_raw,
            recorded_at=self.time(len(self.records)),
            reason=None,
        )
        self.records.append(raw)
        return raw

    def commit_statuslist(self, purpose: str, sha256: str, log_size: int | None = None) -> bytes:
        """Append a ``statuslist`` record committing ``sha256`` (the list of the log so far by default)."""
        index = len(self.records)
        raw = build_statuslist_record(
            origin=self.origin,
            index=index,
            signer=self.signer,
            purpose=purpose,
            list_id=f"https://{self.origin}/statuslists/{purpose}",
            log_size=index if log_size is None else log_size,
            sha256=sha256,
            recorded_at=self.time(index),
        )
        self.records.append(raw)
        return raw

    def frontier(self, size: int | None = None) -> MerkleFrontier:
        """The Merkle frontier of the first ``size`` records."""
        frontier = MerkleFrontier()
        for raw in self.records[: len(self.records) if size is None else size]:
            frontier.append(leaf_hash(raw))
        return frontier

    def sign_checkpoint(
        self, size: int | None = None, signer: NoteSigner | None = None, origin: str = ""
    ) -> str:
        """A signed checkpoint note of the first ``size`` records (not recorded)."""
        size = len(self.records) if size is None else size
        cp = Checkpoint(origin or self.origin, size, self.frontier(size).root())
        return sign_checkpoint(cp, signer or self.note_signer)

    def checkpoint(self) -> str:
        """Sign and keep a checkpoint of the whole log so far."""
        note = self.sign_checkpoint()
        self.checkpoints.append((len(self.records), note))
        return note

    def lines(self) -> list[tuple[int, bytes]]:
        """The records as ``(line number, bytes)``."""
        return [(n, raw) for n, raw in enumerate(self.records, start=1)]

    def trust(self, **key: Any) -> TrustFile:
        """A trust file with the first record key (``key`` overrides its fields) and the note key."""
        fields = {"key_id": self.first_signer.key_id, "public_raw": self.first_signer.public_raw} | key
        return TrustFile(self.origin, (TrustedKey(**fields),), (self.note_signer.verifier_key(),))

    def write_export(self, directory: Path, trust: TrustFile | None = None) -> Path:
        """Write the log as an export directory (NORMATIVE layout)."""
        from certlife.services.partner.export import ExportWriter

        with ExportWriter(directory) as writer:
            for raw in self.records:
                writer.append(raw)
            for size, note in self.checkpoints:
                writer.write_checkpoint(size, note)
            writer.write_trust(trust or self.trust())
        return directory
