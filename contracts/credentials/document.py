"""What the credential formats share: the contexts, strict JSON reading and member checks."""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
#: The W3C context that gives certlife's own terms (``logRecord``, ``logSize``, …) issuer-dependent IRIs.
UNDEFINED_TERMS_CONTEXT = "https://www.w3.org/ns/credentials/undefined-terms/v2"
CONTEXT = (VC_CONTEXT, UNDEFINED_TERMS_CONTEXT)
HEX64 = re.compile(r"[0-9a-f]{64}")
#: Largest credential or status list document a verifier reads.
MAX_DOCUMENT_BYTES = 1 << 24


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _no_float(text: str) -> NoReturn:
    raise ValueError(f"non-integer number {text}")


def load_json_object(raw: bytes) -> dict[str, Any]:
    """Parse ``raw`` as one JSON object: UTF-8, no duplicate members, integers only.

    Raises ``ValueError`` with the reason.
    """
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
    try:  # the hooks' ValueError, JSONDecodeError and UnicodeDecodeError are all ValueErrors
        obj = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_float,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if type(obj) is not dict:
        raise ValueError("not a JSON object")
    return obj


def member(obj: Any, name: str, kind: type, where: str) -> Any:
    """Return ``obj[name]`` if ``obj`` is an object holding a ``kind`` there; raise ``ValueError`` otherwise."""
    if type(obj) is not dict or name not in obj:
        raise ValueError(f"{where}: {name} is missing")
    value = obj[name]
    if type(value) is not kind:
        raise ValueError(f"{where}: {name} is not a {kind.__name__}")
    return value


def as_timestamp(value: str) -> str:
    """Return a certificate's ``validFrom``/``validUntil`` as a VC timestamp (a date is its midnight UTC)."""
    if len(value) == 10:  # YYYY-MM-DD (LOG.md §3)
        return value + "T00:00:00Z"
    return value
