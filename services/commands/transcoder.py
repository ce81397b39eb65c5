"""``OrjsonTranscoder``: eventsourcing's JSON transcoding, byte for byte, through orjson.

The stored state of every event is what ``eventsourcing.persistence.JSONTranscoder``
writes (compact separators, UTF-8, no ASCII escaping, registered types as
``{"_type_": name, "_data_": value}``) and reads. This transcoder produces and
accepts the same bytes, so event stores written by either are read by both:
it converts registered types itself (exactly as the ``json`` encoder's
``default`` hook would) and lets orjson do the encoding and parsing in C.

Anything orjson would treat differently from the ``json`` module -- floats
(orjson writes ``1e-8`` where json writes ``1e-08``), integers beyond 64 bits,
non-string keys, lone surrogates, very deep nesting, subclasses of the JSON
types -- is refused by the conversion or by orjson, and the value then goes
through ``JSONTranscoder`` itself, which stores it as before or raises the error
it always raised. Reading falls back the same way, and for any float (orjson
reads an integer beyond 64 bits as a float); certlife's events hold no floats.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

from certlife.domain.errors import CertlifeError

#: Types the ``json`` module writes as they are (``bool`` before ``int``: exact types only).
_PLAIN: frozenset[type] = frozenset({str, int, bool, type(None)})

#: What makes the fast path give up (the ``JSONTranscoder`` path then decides).
_FALLBACK = (orjson.JSONEncodeError, orjson.JSONDecodeError, TypeError, ValueError, RecursionError)


class _Refused(CertlifeError, ValueError, code="transcoder-fallback"):
    """A value the fast path leaves to ``JSONTranscoder`` (a float, an unregistered type); never escapes."""


class OrjsonTranscoder(JSONTranscoder):
    """A ``JSONTranscoder`` that encodes and decodes with orjson; same bytes, same objects."""

    def encode(self, obj: Any) -> bytes:
        """Encode ``obj`` exactly as ``JSONTranscoder.encode`` does."""
        try:
            return orjson.dumps(self._plain(obj))
        except _FALLBACK:
            return super().encode(obj)

    def decode(self, data: bytes) -> Any:
        """Decode ``data`` exactly as ``JSONTranscoder.decode`` does."""
        try:
            parsed = orjson.loads(data)
            return self._restore_members(parsed, data) or self._restore(parsed)
        except _FALLBACK:
            return super().decode(data)

    def _restore_members(self, parsed: Any, data: bytes) -> dict[str, Any] | None:
        """:meth:`_restore` of an event's state whose only ``_type_`` objects are its own members'
        values (its timestamp, ids), without walking the rest; None for any other ``data``.

        Every ``_type_`` object of compact JSON is one ``"_type_":`` in its bytes (the text
        cannot occur inside a string, whose quotes are escaped), so when there are as many as
        typed members, nothing deeper is typed. Re-encoding to exactly ``data`` shows that every
        number was read as written (orjson reads an integer beyond 64 bits as a float).
        """
        if type(parsed) is not dict or not parsed:
            return None
        typed = [key for key, value in parsed.items() if type(value) is dict and _typed(value)]
        if len(typed) != data.count(b'"_type_":') or orjson.dumps(parsed) != data:
            return None
        for key in typed:
            parsed[key] = self._restore(parsed[key])
        return parsed

    def _plain(self, o: Any) -> Any:
        """``o`` with registered types replaced by their ``_type_``/``_data_`` objects."""
        kind = type(o)
        if kind in _PLAIN:
            return o
        if kind is dict:
            return {k: v if type(v) in _PLAIN else self._plain(v) for k, v in o.items()}
        if kind is list or kind is tuple:
            return [v if type(v) in _PLAIN else self._plain(v) for v in o]
        transcoding = self.types.get(kind)
        if transcoding is None:
            # Floats (orjson spells exponents and non-finite values differently), subclasses
            # of str, int, list and dict, and unregistered types: the json path.
            raise _Refused(f"{kind.__qualname__} is left to JSONTranscoder")
        return {"_type_": transcoding.name, "_data_": self._plain(transcoding.encode(o))}

    def _restore(self, o: Any) -> Any:
        """Parsed JSON with ``_type_``/``_data_`` objects decoded (innermost first, like an object_hook)."""
        kind = type(o)
        if kind is dict:
            d = {k: v if type(v) in _PLAIN else self._restore(v) for k, v in o.items()}
            return self._decode_obj(d) if _typed(d) else d
        if kind is list:
            return [v if type(v) in _PLAIN else self._restore(v) for v in o]
        # orjson reads integers beyond 64 bits as floats: any float is read by the json path.
        raise _Refused("numbers that are not 64-bit integers are read by JSONTranscoder")


def _typed(d: dict[str, Any]) -> bool:
    """True for a registered type's ``{"_type_": name, "_data_": value}`` object (as ``JSONTranscoder`` reads one)."""
    return len(d) == 2 and "_type_" in d and "_data_" in d
