"""Turn stored certificate events into signed records, chained and appended to the tree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import orjson
from eventsourcing.utils import get_topic

from certlife.contracts.admission import AdmissionError, ascii_shown
from certlife.contracts.merkle import leaf_hash
from certlife.contracts.records import RecordSigner, build_certificate_record, record_hash
from certlife.domain.certificate import EVENT_NAMES, Certificate
from certlife.domain.errors import CertlifeError
from certlife.services.commands.legacy import legacy_topic
from certlife.services.infra import tracing
from certlife.services.relay.state import RelayState
from certlife.services.relay.store import Head

#: Event-store topics of the events that become public records.
CERTIFICATE_EVENT_TOPICS = tuple(
    sorted([get_topic(cls) for cls in EVENT_NAMES] + [legacy_topic(cls) for cls in EVENT_NAMES])
)


class RelayRefused(CertlifeError, code="relay-refused"):
    """Publishing would fork or corrupt the log; the message says why and what to check."""


class ChainBroken(RelayRefused, code="chain-broken"):
    """The event store and the relay's chain heads disagree; publishing would fork."""


class InadmissibleEvent(RelayRefused, code="inadmissible-event"):
    """A stored event whose record would break the admission rule (``certlife.contracts.admission``)."""


@dataclass
class BuiltBatch:
    """Records built for one batch, with the domain events to publish beside them."""

    records: list[bytes] = field(default_factory=list)
    #: Each record's W3C ``traceparent`` (that of the command that caused its event), if stored;
    #: a batch built elsewhere (a key record) may leave it shorter than ``records``.
    traces: list[bytes | None] = field(default_factory=list)
    events: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    heads: dict[str, Head] = field(default_factory=dict)
    #: Set when an event could not become a record: ``records`` holds those before it.
    refused: InadmissibleEvent | None = None


class EventSource(NamedTuple):
    """What a record and its public event are built from: one stored certificate event.

    Plain data (picklable), so that building can run in another process
    (``certlife.services.relay.builder``).
    """

    #: ``Certificate.Event.record_fields()``: the record members the event determines.
    fields: dict[str, Any]
    #: The event's version in its certificate's history (the record's ``seq``).
    version: int
    #: The certificate aggregate's id (the public event's ``certificateId``).
    certificate_id: str
    #: The W3C ``traceparent`` stored with the event (None for events stored without one).
    traceparent: bytes | None = None

    @classmethod
    def of(cls, event: Certificate.Event) -> EventSource:
        """The source of ``event``."""
        trace = vars(event).get(tracing.EVENT_ATTRIBUTE)
        return cls(
            event.record_fields(),
            event.originator_version,
            str(event.originator_id),
            trace.encode() if isinstance(trace, str) else None,
        )


def event_key(source: EventSource) -> bytes:
    """The public event's Kafka key: its certificate number."""
    return cast(str, source.fields["certificate"]["number"]).encode()


def event_value(index: int, certificate_id: str, version: int, fields: dict[str, Any]) -> bytes:
    """The public event's body (JSON): the certificate id, version, record index and record fields."""
    return orjson.dumps({"certificateId": certificate_id, "version": version, "index": index, **fields})


def event_headers(origin: str, index: int, source: EventSource) -> list[tuple[str, bytes]]:
    """The public event's CloudEvents headers (and its ``traceparent``, when stored)."""
    fields = source.fields
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", f"{origin}/{index}".encode()),
        ("ce_source", origin.encode()),
        ("ce_type", f"org.certlife.certificate.{fields['event']}.v1".encode()),
        ("ce_subject", fields["certificate"]["number"].encode()),
        ("ce_time", fields["recordedAt"].encode()),
        ("content-type", b"application/json"),
    ]
    if source.traceparent is not None:
        headers.append((tracing.TRACEPARENT, source.traceparent))
    return headers


class PartEvents(NamedTuple):
    """The events of one part of a batch as columns, in batch order: what a builder needs of them.

    One object crosses the process boundary per part instead of an :class:`EventSource`
    per event (pickled both ways: 18 against 28 us per event, measured on 500 events).
    """

    #: Each event's position in the batch.
    positions: list[int]
    #: ``EventSource.fields``, ``version`` and ``certificate_id`` of each event.
    fields: list[dict[str, Any]]
    versions: list[int]
    certificate_ids: list[str]

    @classmethod
    def of(cls, items: Iterable[tuple[int, EventSource]]) -> PartEvents:
        """The columns of ``items`` ((position in the batch, source))."""
        part = cls([], [], [], [])
        for position, source in items:
            part.positions.append(position)
            part.fields.append(source.fields)
            part.versions.append(source.version)
            part.certificate_ids.append(source.certificate_id)
        return part


class BuiltPart(NamedTuple):
    """The records of one part of a batch, in batch order, up to the first event it could not build.

    Columns of plain values, one item per record: a part crosses a process boundary, and a few
    lists pickle at a small part of the cost of one object per record (measured: 3 against 30 us
    per record, both ways). The event keys and headers are made where the part is assembled.
    """

    #: Each record's position in the batch (the event at position p became record first + p).
    positions: list[int]
    records: list[bytes]
    #: Each record's Merkle leaf hash, 32 bytes each, joined.
    leaves: bytes
    #: Each record's hash (``record_hash``: the next record's ``prev``).
    hashes: list[str]
    #: Each record's public event value (:func:`event_value`).
    values: list[bytes]
    #: The position of the first event the part could not build and why (a refusal or a broken
    #: chain); None when all built.
    stop: tuple[int, RelayRefused] | None


def build_part(
    events: PartEvents,
    first_index: int,
    heads: dict[str, Head],
    signer: RecordSigner,
    origin: str,
) -> BuiltPart:
    """Sign the records of ``events`` (in batch order); the event at position p becomes record
    ``first_index + p``.

    Every event of a certificate in the batch must be in ``events`` (its chain runs through
    them), so parts split by certificate can be built apart and merged (:func:`assemble`).
    Stops at the first event whose chain does not continue or whose content breaks the
    admission rule: an event that is not admissible is never signed.
    """
    own: dict[str, Head] = {}
    part = BuiltPart([], [], b"", [], [], None)
    leaves: list[bytes] = []
    for position, fields, seq, certificate_id in zip(
        events.positions, events.fields, events.versions, events.certificate_ids, strict=True
    ):
        number = fields["certificate"]["number"]
        head = own.get(number) or heads.get(number)
        expected = 1 if head is None else head.seq + 1
        if seq != expected:
            broken = ChainBroken(
                f"certificate {number}: event store has version {seq} next, "
                f"but the published chain expects seq {expected}"
            )
            return part._replace(leaves=b"".join(leaves), stop=(position, broken))
        index = first_index + position
        try:
            record = build_certificate_record(
                origin=origin,
                index=index,
                certificate=fields["certificate"],
                event=fields["event"],
                status=fields["status"],
                seq=seq,
                prev=None if head is None else head.record_hash,
                reason=fields["reason"],
                effective_at=fields["effectiveAt"],
                recorded_at=fields["recordedAt"],
                signer=signer,
            )
        except AdmissionError as exc:
            shown = ascii_shown(number)
            refused = InadmissibleEvent(
                f"event version {seq} of certificate {shown!r} would become record {index}, "
                f"but its content breaks the admission rule ({exc.code}: {exc}); it was not "
                "published (its readers could not store it), nor anything after it"
            )
            return part._replace(leaves=b"".join(leaves), stop=(position, refused))
        digest = record_hash(record)
        own[number] = Head(seq, digest, index)
        part.positions.append(position)
        part.records.append(record)
        leaves.append(leaf_hash(record))
        part.hashes.append(digest)
        part.values.append(event_value(index, certificate_id, seq, fields))
    return part._replace(leaves=b"".join(leaves))


def assemble(
    parts: Sequence[BuiltPart], sources: Sequence[EventSource], state: RelayState, origin: str
) -> BuiltBatch:
    """The batch of ``sources`` from its parts, in log order, extending ``state`` (a copy).

    The batch ends before the first event any part could not build: a broken chain
    there raises :class:`ChainBroken`; a refusal ends the batch with ``refused`` set.
    """
    stops = [part.stop for part in parts if part.stop is not None]
    stop = min(stops, key=lambda found: found[0]) if stops else None
    if stop is not None and isinstance(stop[1], ChainBroken):
        raise stop[1]
    end = len(sources) if stop is None else stop[0]
    slots: list[tuple[BuiltPart, int] | None] = [None] * end
    for part in parts:
        for at, position in enumerate(part.positions):
            if position < end:
                slots[position] = (part, at)
    if None in slots:
        raise AssertionError("the parts of a batch do not cover it: built positions are missing")
    first = state.tree_size
    out = BuiltBatch()
    leaves: list[bytes] = []
    for position, (part, at) in enumerate(cast(list[tuple[BuiltPart, int]], slots)):
        source, index = sources[position], first + position
        number = source.fields["certificate"]["number"]
        leaves.append(part.leaves[32 * at : 32 * at + 32])
        out.heads[number] = Head(source.version, part.hashes[at], index)
        out.records.append(part.records[at])
        out.traces.append(source.traceparent)
        out.events.append((event_key(source), part.values[at], event_headers(origin, index, source)))
    state.frontier.extend(leaves)  # the tree a level at a time (MerkleFrontier.append: a leaf at a time)
    if stop is not None:
        out.refused = cast(InadmissibleEvent, stop[1])
    return out


def build_records(
    sources: Sequence[EventSource],
    heads: dict[str, Head],
    state: RelayState,
    signer: RecordSigner,
    origin: str,
) -> BuiltBatch:
    """Sign one record per event, extending ``state`` (a copy) and the chain ``heads``.

    An event whose content breaks the admission rule is never signed: the batch
    ends before it and ``refused`` says why.
    """
    part = build_part(PartEvents.of(enumerate(sources)), state.tree_size, heads, signer, origin)
    return assemble([part], sources, state, origin)
