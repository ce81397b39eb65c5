"""The one rule for status list indexes and bits, shared by the publisher and every verifier.

A certificate's list index is the number of ``event = "issued"`` certificate records
before its own issued record (its 0-based issuance ordinal): stable, and derivable
from the log alone. After the records of a log prefix, the revocation bit of a
certificate is set when its newest record's status is ``revoked`` or ``withdrawn``;
the suspension bit when it is ``suspended``. Expiry sets no bit (``validUntil`` says it).
"""

from __future__ import annotations

from typing import Protocol

from certlife.contracts.credentials.ids import PURPOSES

#: The statuses that set each purpose's bit.
BIT_STATUSES = {"revocation": frozenset({"revoked", "withdrawn"}), "suspension": frozenset({"suspended"})}


class LogRecord(Protocol):
    """What :class:`StatusBits` reads of a record (``contracts.records.Record`` has it)."""

    @property
    def index(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def event(self) -> str | None: ...

    @property
    def status(self) -> str | None: ...

    @property
    def number(self) -> str | None: ...


class StatusBits:
    """Follows a log's records in index order; knows every list index and the set bits.

    Records of other kinds (key, statuslist) only advance ``log_size``.
    """

    def __init__(self) -> None:
        self.count = 0  #: certificates issued so far (the next list index)
        self.log_size = 0  #: records applied so far (the log prefix these bits reflect)
        self._index: dict[str, int] = {}
        self._latest: dict[str, int] = {}  # number -> log index of its newest record
        self._status: dict[str, str] = {}
        self._set: dict[str, set[int]] = {purpose: set() for purpose in PURPOSES}

    def apply(self, record: LogRecord) -> None:
        """Take the next record of the log (``record.index`` must equal ``log_size``)."""
        if record.index != self.log_size:
            raise ValueError(f"record {record.index} applied where record {self.log_size} was expected")
        self.log_size += 1
        number = record.number
        if record.kind != "certificate" or number is None or record.status is None:
            return
        if record.event == "issued":
            self._index.setdefault(number, self.count)
            self.count += 1
        position = self._index.get(number)
        if position is None:  # no issued record: a log no verifier accepts
            raise ValueError(f"record {record.index}: certificate {number} was never issued")
        self._latest[number] = record.index
        self._status[number] = record.status
        for purpose, statuses in BIT_STATUSES.items():
            if record.status in statuses:
                self._set[purpose].add(position)
            else:
                self._set[purpose].discard(position)

    def index_of(self, number: str) -> int | None:
        """Return the list index of certificate ``number``, or None if it was not issued."""
        return self._index.get(number)

    def status_of(self, number: str) -> str | None:
        """Return the status in the newest record of certificate ``number``."""
        return self._status.get(number)

    def latest_record(self, number: str) -> int | None:
        """Return the log index of the newest record of certificate ``number``."""
        return self._latest.get(number)

    def set_bits(self, purpose: str) -> set[int]:
        """Return the list indexes whose ``purpose`` bit is set (a copy)."""
        if purpose not in self._set:
            raise ValueError(f"unknown status purpose {purpose!r}")
        return set(self._set[purpose])
