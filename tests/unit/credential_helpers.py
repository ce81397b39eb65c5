"""A small certlife log and a credential key for the credential tests (deterministic)."""

from __future__ import annotations

from certlife.contracts.credentials.dcc import build_credential
from certlife.contracts.credentials.listindex import StatusBits
from certlife.contracts.credentials.statuslist import build_status_list
from certlife.contracts.records import Record, RecordSigner, parse_record
from tests.unit.logbuilder import LogBuilder, private_key

CREATED = "2025-03-02T00:00:00Z"


def credential_signer(label: str = "credential-key-1") -> RecordSigner:
    """A deterministic credential key."""
    return RecordSigner(private_key(label))


def small_log() -> LogBuilder:
    """Three certificates: C-0 revoked, C-1 suspended, C-2 valid after an amendment."""
    log = LogBuilder()
    for number in ("C-0", "C-1", "C-2"):
        log.add(number, "issued", "valid")
    log.add("C-0", "revoked", "revoked")
    log.add("C-1", "suspended", "suspended")
    log.add("C-2", "amended", "valid")
    return log


def records(log: LogBuilder) -> list[Record]:
    """The parsed records of ``log``."""
    return [parse_record(raw) for raw in log.records]


def bits_of(log: LogBuilder, size: int | None = None) -> StatusBits:
    """StatusBits after the first ``size`` records of ``log``."""
    bits = StatusBits()
    for record in records(log)[: len(log.records) if size is None else size]:
        bits.apply(record)
    return bits


def credential_of(log: LogBuilder, index: int, signer: RecordSigner, log_size: int | None = None) -> bytes:
    """The signed credential of record ``index`` as of ``log_size`` (default: the whole log)."""
    size = len(log.records) if log_size is None else log_size
    record = parse_record(log.records[index])
    list_index = bits_of(log, size).index_of(record.number or "")
    assert list_index is not None
    return build_credential(record, log.records[index], list_index, size, CREATED, signer)


def status_list_of(log: LogBuilder, purpose: str, signer: RecordSigner, log_size: int | None = None) -> bytes:
    """The signed status list credential of ``purpose`` as of ``log_size``."""
    bits = bits_of(log, log_size)
    return build_status_list(
        log.origin, purpose, bits.set_bits(purpose), 131072, bits.log_size, CREATED, signer
    )
