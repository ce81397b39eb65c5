"""The OpenAPI schemas of the API's answers (documentation and the schemathesis check; bodies are built as dicts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CheckpointRef(BaseModel):
    """The checkpoint an answer rests on."""

    size: int
    root: str | None = Field(description="base64 root hash; null when only the size is known")
    time: str | None = Field(description="recordedAt of its last record")


class Proof(BaseModel):
    """What a client needs to verify the answer (contracts/LOG.md §8-§9)."""

    record: str = Field(description="the record's exact bytes, as UTF-8 text")
    leafIndex: int
    treeSize: int
    inclusion: list[str] = Field(description="RFC 9162 audit path, base64 hashes, the leaf's sibling first")
    checkpoint: str = Field(description="the cosigned checkpoint note, as published")
    tlogProof: str = Field(description="the same evidence as a C2SP tlog-proof (certverify proof reads it)")


class CertificateStatus(BaseModel):
    """A certificate's status now, or at ``at``, and the record and checkpoint it rests on."""

    number: str
    status: str = Field(description="valid, suspended, withdrawn, revoked, expired, unavailable or unknown")
    recordStatus: str = Field(description="the status the record states")
    event: str | None
    seq: int | None
    reason: str | None
    effectiveAt: str | None
    recordedAt: str | None
    validUntil: str | None
    certificate: dict[str, Any] | None
    logIndex: int | None
    anchored: bool = Field(description="true when the checkpoint covers the record")
    checkpoint: CheckpointRef | None
    note: str | None
    at: str | None = Field(description="the instant asked for (?at=), else null")
    proof: Proof | None = None


class HistoryEvent(BaseModel):
    """One record of a certificate."""

    logIndex: int
    seq: int | None
    event: str | None
    status: str
    reason: str | None
    effectiveAt: str | None
    recordedAt: str | None


class History(BaseModel):
    """Every record of a certificate, in log order."""

    number: str
    events: list[HistoryEvent]


class Summary(BaseModel):
    """A certificate in a list."""

    number: str
    status: str
    scheme: str | None
    holder: str | None
    manufacturer: str | None
    product: str | None
    models: list[str]
    factories: list[str]
    standards: list[str]
    validFrom: str | None
    validUntil: str | None
    logIndex: int


class SearchPage(BaseModel):
    """One page of search results, by number; ``next`` continues after it (null on the last page)."""

    items: list[Summary]
    next: str | None
    limit: int


class Expiring(BaseModel):
    """Valid or suspended certificates whose validity ends within ``days``, soonest first."""

    days: int
    items: list[Summary]
    truncated: bool = Field(description="true when more than `limit` match")


class CountRow(BaseModel):
    """Certificates of one status and scheme."""

    status: str
    scheme: str | None
    count: int


class Counts(BaseModel):
    """Certificates by status and by scheme."""

    total: int
    byStatus: dict[str, int]
    byScheme: dict[str, int]
    byStatusAndScheme: list[CountRow]
