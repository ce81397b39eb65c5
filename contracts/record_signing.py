"""Signing v1 records (contracts/LOG.md §5): the signing input, the signer, certificate records.

``certlife.contracts.records`` re-exports everything public here; import from there.
Key records (rotation, compromise, credential key) and status list commitments
are built in ``certlife.contracts.key_records``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts import record_checks as chk
from certlife.contracts.admission import record_content_problem
from certlife.contracts.canonical import CANONICAL_ORJSON, canonical_bytes, fast_canonical
from certlife.contracts.keys import key_id, public_raw

RECORD_VERSION = 1
SIGNING_PREFIX = chk.SIGNING_PREFIX
#: Members a record's signatures do not cover.
UNSIGNED = ("sig", "newKeySig")
#: The largest record a producer signs: a C2SP tlog-tiles entry holds at most 65,535 bytes
#: (TILES.md), and a record that tiles readers cannot read is never signed (LOG.md §3.2).
MAX_SIGNED_RECORD_BYTES = 65535
#: A signature's place holder while a record is encoded: canonical base64 of 64 bytes, as every
#: Ed25519 signature's (``_finish_plain``).
_STAND_IN_SIG = base64.b64encode(bytes(64)).decode("ascii")
#: The origin of a deployment that names none (``CERTLIFE_ORIGIN``'s default).
DEFAULT_ORIGIN = "certlife.example/log"
#: A reason is at most 1,024 characters (the domain's rule): 4 UTF-8 bytes each at worst, never escaped.
_WORST_REASON = "\U0001f600" * 1024
_WORST_NAME = max(("issued", "suspended", "reinstated", "renewed", "amended", "revoked", "withdrawn",
                   "expired", "valid"), key=len)  # fmt: skip


def signing_input(record: Mapping[str, Any]) -> bytes:
    """Return the bytes a record's ``sig`` (and ``newKeySig``) sign."""
    body = {k: v for k, v in record.items() if k not in UNSIGNED}
    return SIGNING_PREFIX + canonical_bytes(body)


class RecordSigner:
    """Signs records with an Ed25519 private key (never exposes the key)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_raw = public_raw(private_key)
        self.key_id = key_id(self.public_raw)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickle support, so the relay's own builder process can sign (never written to disk)."""
        raw = self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return _signer_from_raw, (raw,)

    def __repr__(self) -> str:
        return f"RecordSigner(key_id={self.key_id!r})"


def _signer_from_raw(raw: bytes) -> RecordSigner:
    return RecordSigner(Ed25519PrivateKey.from_private_bytes(raw))


def b64(raw: bytes) -> str:
    """Standard padded base64 of ``raw`` (the form records hold)."""
    return base64.b64encode(raw).decode("ascii")


def finish_record(record: dict[str, Any], signer: RecordSigner, co_signer: RecordSigner | None) -> bytes:
    """Sign ``record`` (``co_signer`` adds ``newKeySig``) and return its exact JCS bytes.

    Refuses content that breaks the admission rule and any record the record check rejects.
    """
    problem = record_content_problem(record)
    if problem is not None:  # never sign what a consumer cannot read
        raise problem
    if co_signer is None:
        encoded = _finish_plain(record, signer)
        if encoded is not None:
            return encoded
    # No type walk of the values (``signing_input``'s): the record's final bytes are checked
    # below exactly as a reader decodes them, and that check covers what is signed too.
    # encode_parsed gives the canonical encoding of JSON values (falling back to the full
    # encoder for floats, unsafe integers, supplementary characters and non-string keys),
    # and a verifier's signing input is the accepted final record without its signature
    # members: with sorted keys, exactly these body bytes.
    body = {k: v for k, v in record.items() if k not in UNSIGNED}
    fast = fast_canonical(body)
    message = SIGNING_PREFIX + (fast if fast is not None else canonical_bytes(body))
    record["sig"] = b64(signer.sign(message))
    if co_signer is not None:
        record["newKeySig"] = b64(co_signer.sign(message))
    # The signatures are base64 (printable ASCII): the record's fast encoding is canonical when
    # the body's was. Never emit a record our own verifier would reject: its member checks, on
    # the record exactly as a reader decodes it.
    encoded = orjson.dumps(record, option=CANONICAL_ORJSON) if fast is not None else canonical_bytes(record)
    if not _verifier_recognises(encoded, record.get("origin")):
        chk.check_record(orjson.loads(encoded))
    return encoded


def _finish_plain(record: dict[str, Any], signer: RecordSigner) -> bytes | None:
    """:func:`finish_record` of a plain certificate record (the common one) in one encoding; None,
    ``record`` unchanged, for any other.

    The record is encoded once with a stand-in signature. When the verifier's byte-level
    recogniser takes those bytes (its promise: the full path accepts them, so they are the
    record's JCS), the signing input is cut out of them exactly as the verifier cuts it (the
    bytes without the ``sig`` member), and the signature replaces the stand-in, which leaves
    bytes the recogniser takes too (``plain.signature_span``). So the record is never encoded
    twice and never needs the float scan of :func:`~certlife.contracts.canonical.fast_canonical`.
    """
    from certlife.contracts.verification.plain import signature_span, signing_input_around  # lazily, as below

    origin = record.get("origin")
    if not isinstance(origin, str) or "sig" in record:
        return None
    record["sig"] = _STAND_IN_SIG
    try:
        encoded = orjson.dumps(record, option=CANONICAL_ORJSON)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the general path decides
        encoded = None
    span = None if encoded is None else signature_span(encoded, origin)
    if encoded is None or span is None:
        del record["sig"]
        return None
    start, end = span
    record["sig"] = b64(signer.sign(signing_input_around(encoded, start, end)))
    return encoded[:start] + record["sig"].encode("ascii") + encoded[end:]


def _verifier_recognises(encoded: bytes, origin: object) -> bool:
    """True when the verifier's byte-level recogniser matches ``encoded`` as a plain certificate
    record of ``origin``: the verifier's promise that its full path (parse, canonical equality,
    ``check_record``) accepts these bytes (held to it by tests/unit/test_plain_bytes.py), at
    under half the cost of decoding them. Any other record gets the full check."""
    from certlife.contracts.verification.plain import recognise  # lazily: the verifier imports records

    return isinstance(origin, str) and recognise(encoded, {}, False, origin) is not None


def certificate_record_bound(origin: str) -> Callable[[Mapping[str, Any]], int]:
    """Return ``size(certificate)``: the most bytes a certificate record of log ``origin`` can take
    when its ``certificate`` member is ``certificate``, whatever its other members (the largest
    index, seq, reason, event and status; any key, times and signature).

    JCS writes members one after another, so the record's size is that of the same record with
    an empty ``certificate`` plus the certificate's own encoding, less the two bytes of ``{}``.
    """
    worst = {
        "v": RECORD_VERSION,
        "origin": origin,
        "index": 2**53 - 1,
        "kind": "certificate",
        "keyId": "0" * 16,
        "certificate": {},
        "event": _WORST_NAME,
        "status": _WORST_NAME,
        "seq": 2**53 - 1,
        "prev": "0" * 64,
        "reason": _WORST_REASON,
        "effectiveAt": "9999-12-31T23:59:59Z",
        "recordedAt": "9999-12-31T23:59:59Z",
        "sig": "A" * 88,
    }
    base = len(canonical_bytes(worst)) - 2

    def size(certificate: Mapping[str, Any]) -> int:
        return base + len(canonical_bytes(dict(certificate)))

    return size


def build_certificate_record(
    *,
    origin: str,
    index: int,
    certificate: Mapping[str, Any],
    event: str,
    status: str,
    seq: int,
    prev: str | None,
    reason: str | None,
    effective_at: str,
    recorded_at: str,
    signer: RecordSigner,
) -> bytes:
    """Build and sign a certificate record; return its exact JCS bytes."""
    record = {
        "v": RECORD_VERSION,
        "origin": origin,
        "index": index,
        "kind": "certificate",
        "keyId": signer.key_id,
        "certificate": dict(certificate),
        "event": str(event),
        "status": str(status),
        "seq": seq,
        "prev": prev,
        "reason": reason,
        "effectiveAt": effective_at,
        "recordedAt": recorded_at,
    }
    return finish_record(record, signer, None)
