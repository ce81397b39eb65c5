"""The one rule for list indexes and bits (StatusBits)."""

from __future__ import annotations

import pytest

from certlife.contracts.credentials.listindex import StatusBits
from tests.unit.credential_helpers import bits_of, records, small_log
from tests.unit.logbuilder import LogBuilder

pytestmark = pytest.mark.unit


def test_list_index_is_the_issuance_ordinal() -> None:
    log = small_log()
    log.rotate("k1")  # a key record: no index, but counted in the log size
    log.add("C-3", "issued", "valid")
    bits = bits_of(log)
    assert [bits.index_of(n) for n in ("C-0", "C-1", "C-2", "C-3", "C-9")] == [0, 1, 2, 3, None]
    assert (bits.count, bits.log_size) == (4, len(log.records))


def test_bits_follow_the_newest_record_of_each_certificate() -> None:
    log = small_log()
    bits = bits_of(log)
    assert bits.set_bits("revocation") == {0} and bits.set_bits("suspension") == {1}
    log.add("C-1", "reinstated", "valid")
    log.add("C-2", "withdrawn", "withdrawn")
    bits = bits_of(log)
    assert bits.set_bits("revocation") == {0, 2} and bits.set_bits("suspension") == set()
    assert bits.status_of("C-2") == "withdrawn" and bits.latest_record("C-2") == len(log.records) - 1


def test_expiry_sets_no_bit_and_a_prefix_gives_the_bits_as_of_then() -> None:
    log = LogBuilder()
    log.add("E-0", "issued", "valid")
    log.add("E-0", "suspended", "suspended")
    log.add("E-0", "expired", "expired")
    assert bits_of(log, 2).set_bits("suspension") == {0}
    assert bits_of(log).set_bits("suspension") == set() and bits_of(log).set_bits("revocation") == set()


def test_records_must_come_in_index_order() -> None:
    log = small_log()
    parsed = records(log)
    bits = StatusBits()
    bits.apply(parsed[0])
    with pytest.raises(ValueError):
        bits.apply(parsed[2])
    with pytest.raises(ValueError):
        bits.set_bits("expiry")
