"""The mirror's per-record work, run by its workers: the verifier's facts plus the row to store.

:func:`prepare_chunk` runs exactly the verifier's per-record step
(:func:`~certlife.contracts.verification.facts.runs_for_chunk`: parse,
canonical check, signature; plain records packed into runs) on a chunk of
Kafka messages and, for each
certificate record, what applying it needs: its row
(:func:`~certlife.projections.mirror_rows.plain_row_values` for a plain record,
else a :class:`~certlife.projections.mirror_rows.MirrorRow`), or its
:class:`~certlife.projections.parking.Parked` when its content is
inadmissible (``certlife.projections.parking.content_parked``). Whether a
record is applied at all is decided later, in order, by the sequential
checks in the parent (:class:`~certlife.contracts.verification.LogVerifier`)
and the checkpoints.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from typing import NamedTuple

import orjson

from certlife.contracts.admission import record_content_problem
from certlife.contracts.errors import ContractError
from certlife.contracts.records import Record, parse_record
from certlife.contracts.verification import KeyDirectory, RecordFacts
from certlife.contracts.verification.facts import FastRun, runs_for_chunk
from certlife.projections.mirror_rows import AnyRow, mirror_row, plain_row_values
from certlife.projections.parking import PARKABLE_ERRORS, Parked, content_parked, refused_parked

#: ``(position of the first message, message bytes, key directory, check all signatures, origin)``.
MirrorChunk = tuple[int, Sequence[bytes], KeyDirectory, bool, str]
#: What applying one record takes: its row, its parking, or nothing (a key record, a bad record).
Outcome = AnyRow | Parked | None


class Prepared(NamedTuple):
    """A chunk's facts (for the sequential checks) and outcomes (for the store, one per message)."""

    facts: list[RecordFacts | FastRun]
    outcomes: list[Outcome]


def _plain_record(raw: bytes) -> Record:
    """The record of bytes the verifier recognised as plain (their exact JCS encoding): ``parse_record``'s
    result, cheaply."""
    data = orjson.loads(raw)
    return Record(raw, data["index"], data["kind"], data["keyId"], binascii.a2b_base64(data["sig"]), data)


def _plain_outcome(raw: bytes) -> Outcome:
    """:func:`_outcome` of a plain record: parsed once, a :class:`Record` built only to park it."""
    data = orjson.loads(raw)
    if record_content_problem(data) is None:
        return plain_row_values(data)
    return _outcome(_plain_record(raw))


def _outcome(record: Record) -> Outcome:
    parked = content_parked(record)
    if parked is not None:
        return parked
    try:
        return mirror_row(record.data)
    except PARKABLE_ERRORS as exc:  # as when the store maps it: parked as unmappable
        return refused_parked(record, exc)


def _other_outcome(facts: RecordFacts, raw: bytes) -> Outcome:
    if facts.error is not None or facts.kind != "certificate":
        return None
    try:
        return _outcome(parse_record(raw))
    except ContractError:  # cannot happen after clean facts; the checks will say what is wrong
        return None


def prepare_chunk(chunk: MirrorChunk) -> Prepared:
    """Facts and outcomes of every message of ``chunk`` (the function the mirror's workers run)."""
    first, raws, keys, check_signatures, origin = chunk
    facts = runs_for_chunk((enumerate(raws, first), keys, check_signatures, origin))
    outcomes: list[Outcome] = []
    at = 0
    for item in facts:
        if isinstance(item, FastRun):
            outcomes += [_plain_outcome(raw) for raw in raws[at : at + item.size]]
            at += item.size
        else:
            outcomes.append(_other_outcome(item, raws[at]))
            at += 1
    return Prepared(facts, outcomes)
