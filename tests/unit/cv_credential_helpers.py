"""certverify credential tests: credentials and committed status lists over a LogBuilder log (deterministic).

Lists and credentials come from helper A's builders (contracts/credentials),
list indexes and bits from :class:`StatusBits` over the log's records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from certlife.contracts.credentials.bitstring import list_size
from certlife.contracts.credentials.dcc import build_credential
from certlife.contracts.credentials.ids import PURPOSES
from certlife.contracts.credentials.listindex import StatusBits
from certlife.contracts.credentials.statuslist import build_status_list
from certlife.contracts.records import RecordSigner, parse_record
from tests.unit.logbuilder import LogBuilder, private_key


def credential_signer(label: str) -> RecordSigner:
    """The deterministic credential key ``label`` (as ``LogBuilder.announce_credential_key`` announces it)."""
    return RecordSigner(private_key(label))


def bits_of(b: LogBuilder, size: int | None = None) -> StatusBits:
    """StatusBits after the first ``size`` records (all by default)."""
    bits = StatusBits()
    for raw in b.records[: len(b.records) if size is None else size]:
        bits.apply(parse_record(raw))
    return bits


def status_lists(b: LogBuilder, signer: RecordSigner, *, commit: bool = True) -> dict[str, bytes]:
    """Both lists of the log as it is now, signed by ``signer``; committed to the log unless told."""
    bits = bits_of(b)
    size = len(b.records)
    created = b.time(size - 1)
    lists = {
        purpose: build_status_list(
            b.origin, purpose, bits.set_bits(purpose), list_size(bits.count), size, created, signer
        )
        for purpose in PURPOSES
    }
    if commit:
        for purpose, data in lists.items():
            b.commit_statuslist(purpose, hashlib.sha256(data).hexdigest(), log_size=size)
    return lists


def credential(
    b: LogBuilder,
    number: str,
    signer: RecordSigner,
    *,
    log_size: int | None = None,
    seq: int | None = None,
    list_index: int | None = None,
) -> bytes:
    """The credential of ``number``'s newest record (or record ``seq``) as of ``log_size`` records."""
    size = len(b.records) if log_size is None else log_size
    records = [(parse_record(raw), raw) for raw in b.records[:size]]
    mine = [(r, raw) for r, raw in records if r.kind == "certificate" and r.number == number]
    record, raw = mine[-1] if seq is None else mine[seq - 1]
    position = bits_of(b, size).index_of(number) if list_index is None else list_index
    assert position is not None
    return build_credential(record, raw, position, size, b.time(size - 1), signer)


def write_lists(directory: Path, lists: dict[str, bytes]) -> None:
    """Put ``lists`` where an export keeps them: ``statuslists/<purpose>``."""
    (directory / "statuslists").mkdir(exist_ok=True)
    for purpose, data in lists.items():
        (directory / "statuslists" / purpose).write_bytes(data)
