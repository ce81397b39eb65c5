"""Small codes for the chain and transition steps: statuses, events, packed chain entries.

A certificate's chain state is one packed :data:`ENTRY` (SHA-256 of its
latest record, that record's ``seq``, the status code after it), so the
parent holds one small bytes object per certificate and compares the
``(digest, seq)`` prefix with a record's packed ``(prev, seq - 1)`` link in
one comparison. :data:`LEGAL` answers "is ``event`` from status ``before``
giving ``status`` a legal transition" by one byte lookup.
"""

from __future__ import annotations

import struct

from certlife.domain.lifecycle import TRANSITIONS, LifecycleEvent, Status

#: ``(status before or None, event) -> status after`` of every legal transition, as plain strings.
STEPS: dict[tuple[str | None, str], str] = {
    (None if before is None else before.value, event.value): after.value
    for (before, event), after in TRANSITIONS.items()
}
#: Status names by the one-byte code a packed chain entry holds, and back.
STATUS_NAMES: tuple[str, ...] = tuple(s.value for s in Status)
STATUS_CODES: dict[str, int] = {name: code for code, name in enumerate(STATUS_NAMES)}
#: Event names by code, and back.
EVENT_NAMES: tuple[str, ...] = tuple(e.value for e in LifecycleEvent)
EVENT_CODES: dict[str, int] = {name: code for code, name in enumerate(EVENT_NAMES)}
#: The status code standing for "no record of this certificate yet".
NO_STATUS = len(STATUS_NAMES)
#: A certificate's chain entry: SHA-256 of its latest record, its seq, the status code after it.
ENTRY = struct.Struct("<32sQB")
#: Length of an entry's ``(digest, seq)`` prefix (what a record's link must equal).
LINK_SIZE = 40
#: The entry of a certificate without records: a first record (``seq`` 1, no ``prev``)
#: links to 32 zero bytes and seq 0.
NO_ENTRY = ENTRY.pack(bytes(32), 0, NO_STATUS)

assert len(EVENT_NAMES) <= 16 and NO_STATUS < 16  # an event and a status code share one byte


def event_status(event: str, status: str) -> int:
    """The one-byte code of an ``(event, status after)`` pair."""
    return EVENT_CODES[event] << 4 | STATUS_CODES[status]


def _legal_table() -> bytes:
    table = bytearray((NO_STATUS + 1) << 8)
    for (before, event), after in STEPS.items():
        code = NO_STATUS if before is None else STATUS_CODES[before]
        table[code << 8 | event_status(event, after)] = 1
    return bytes(table)


#: ``LEGAL[status code before << 8 | event_status(event, status)]`` is 1 for a legal transition.
LEGAL = _legal_table()

#: One plain record in a run, as a worker packs it: prev (zeros for none), seq - 1, SHA-256
#: of the record, seq, status code, :func:`event_status` code, Merkle leaf hash.
ROW = struct.Struct("<32sQ32sQBB32s")
#: The same bytes as the chain step reads them: the link ``(prev, seq - 1)`` (compared with
#: the certificate's entry prefix), the new :data:`ENTRY`, event-status code, leaf hash.
ROW_VIEW = struct.Struct(f"<{LINK_SIZE}s{ENTRY.size}sB32s")

assert ROW.size == ROW_VIEW.size
