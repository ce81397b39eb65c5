"""Parking: what a reader does with a published record it cannot apply (pure, no IO).

The projections and the partner mirror never stop on one record. A record is
*parked* — kept with its raw bytes, counted, reported, logged once — and the
rest of the log is applied, when:

* it does not parse (code of the parse error: ``not-json``, ``not-canonical``,
  ``record-format``; projections only, the mirror stops on it as an integrity
  failure);
* its content is inadmissible under ``certlife.contracts.admission.record_content_problem``
  (the admission code: ``inadmissible-text``, ``text-not-nfc``, ``text-blank``,
  ``text-too-long``, ``number-invalid``);
* PostgreSQL (or asyncpg's encoding of the values) refuses its row with a data
  error or a constraint violation (``database-refused``), or its values cannot be
  mapped to columns (``unmappable``).

Only certificate records are checked and parked: the read models and the mirror
store nothing of key records.

A parked record marks its certificate *unavailable* in the model that parked it
(status ``unavailable``, ``parked_index`` = its log index) instead of leaving a
stale or missing status. A later record of the same certificate that applies
cleanly makes it available again: every certificate record carries the whole
public certificate and the status after its event, so the newest applied
record alone determines the current status. (The ``certificates`` model writes
only a certificate's newest row of a batch, so a row PostgreSQL would refuse
is parked only when it is current; history rows and content checks do not
depend on batching.) A rebuild replays the log into a fresh generation and
tries every parked record again.

Where parked records are kept: ``projection_parked`` (``certlife.projections.parked``)
per projection generation, ``mirror_parked`` (``certlife.projections.mirror_store``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from certlife.contracts.admission import record_content_problem
from certlife.contracts.errors import ContractError
from certlife.contracts.records import Record

#: PostgreSQL refused the record's row (data exception or constraint violation).
DATABASE_REFUSED = "database-refused"
#: The record's values could not be turned into column values.
UNMAPPABLE = "unmappable"
#: Errors that belong to one record's values, never to the connection or the server:
#: writing the same record again fails the same way, so it is parked instead of retried.
PARKABLE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    ValueError,
    OverflowError,
)
#: Longest message kept with a parked record.
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Parked:
    """A log record a reader could not apply: where it is, why, and its exact bytes."""

    index: int
    raw: bytes
    code: str
    message: str
    #: The certificate number when it is known and storable (marks it unavailable), else None.
    number: str | None = None

    def describe(self) -> str:
        """One line for a log or a report."""
        where = f"record {self.index}" + (f" (certificate {printable(self.number)})" if self.number else "")
        return f"{where} parked, {self.code}: {self.message}"


def storable(text: object) -> str | None:
    """``text`` if PostgreSQL can store it as ``text`` (a str without NUL or lone surrogates)."""
    if not isinstance(text, str) or "\x00" in text:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` on one line, storable and harmless on a terminal or in a log.

    Every character that is not printable (controls, NUL, escape sequences,
    bidirectional formatting, lone surrogates, line breaks) is written as a
    backslash escape.
    """
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _message(text: str) -> str:
    """:func:`printable` ``text``, at most ``MAX_MESSAGE`` characters long."""
    safe = printable(text)
    return safe if len(safe) <= MAX_MESSAGE else safe[: MAX_MESSAGE - 1] + "…"


def _number(record: Record) -> str | None:
    cert = record.certificate
    return storable(cert.get("number")) if isinstance(cert, dict) else None


def content_parked(record: Record) -> Parked | None:
    """The parking of a certificate record whose content is inadmissible; None when it may be applied."""
    if record.kind != "certificate":
        return None
    problem = record_content_problem(record.data)
    if problem is None:
        return None
    return Parked(record.index, record.raw, problem.code, _message(str(problem)), _number(record))


def refused_parked(record: Record, error: Exception) -> Parked:
    """The parking of a record whose row PostgreSQL or the mapping refused with ``error``."""
    if isinstance(error, asyncpg.PostgresError):
        code, text = DATABASE_REFUSED, f"SQLSTATE {error.sqlstate}: {error}"
    else:
        code, text = UNMAPPABLE, f"{type(error).__name__}: {error}"
    return Parked(record.index, record.raw, code, _message(text), _number(record))


def claimed_index(raw: bytes) -> int | None:
    """The ``index`` member of a message that is not a valid record, if it has a readable one."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    value = obj.get("index") if isinstance(obj, dict) else None
    return value if type(value) is int and value >= 0 else None


def unparsed_parked(raw: bytes, index: int, error: ContractError) -> Parked:
    """The parking of a message that is not a record, at log position ``index``."""
    return Parked(index, raw, error.code, _message(str(error)))


def split_admissible(records: Iterable[Record]) -> tuple[list[Record], list[Parked]]:
    """Records whose content may be applied, and the parkings of the others (index order kept)."""
    applicable: list[Record] = []
    parked: list[Parked] = []
    for record in records:
        problem = content_parked(record)
        if problem is None:
            applicable.append(record)
        else:
            parked.append(problem)
    return applicable, parked
