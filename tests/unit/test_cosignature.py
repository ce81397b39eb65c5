"""tlog-cosignature v1: the spec's examples, a round trip, and how notes treat cosignature lines.

Cosignature key IDs use type byte 0x04, so a cosignature line never matches a
note key: to ``open_note`` it is an unknown key's line, ignored whatever its
encoding (as golang.org/x/mod/sumdb/note does), while a known key's line keeps
the strict checks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.cosignature import (
    CosignatureSigner,
    CosignatureVerifier,
    add_signature_lines,
    cosigned_message,
    cosigner_key_id,
)
from certlife.contracts.errors import NoteError
from certlife.contracts.notes import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    note_signatures,
    open_note,
    sign_checkpoint,
)

pytestmark = pytest.mark.unit

EXAMPLES = json.loads((Path(__file__).resolve().parents[1] / "vectors/c2sp/examples.json").read_text())
COSIGNED = next(e for e in EXAMPLES if e["source"] == "tlog-cosignature.md#transparency-log-cosignatures")
MESSAGE = next(e for e in EXAMPLES if e["kind"] == "cosigned_message")
ORIGIN = "certlife.example/log"


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


LOG = NoteSigner(ORIGIN, _key("log"))
WITNESS = CosignatureSigner("witness.example/w1", _key("w1"))
CHECKPOINT = Checkpoint(ORIGIN, 42, hashlib.sha256(b"root").digest())
NOTE = sign_checkpoint(CHECKPOINT, LOG)
LOG_VERIFIERS = [NoteVerifier.from_string(LOG.verifier_key())]


def test_spec_cosigned_message() -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosigned_message(body, 1679315147) == MESSAGE["text"].encode()


def test_spec_cosigned_checkpoint_lines() -> None:
    """The spec's cosigned checkpoint: the witness line's key ID, size and timestamp."""
    text, lines = note_signatures(COSIGNED["text"])
    assert text.startswith("example.com/behind-the-sofa\n20852163\n")
    log_line, witness_line = lines
    derived = COSIGNED["derived"]
    assert log_line.key_id.hex() == derived["log_signature_key_id_hex"]
    assert (witness_line.name, witness_line.key_id.hex()) == (
        "witness.example.com/w1",
        derived["cosignature_key_id_hex"],
    )
    assert len(witness_line.payload) == derived["cosignature_bytes"] and witness_line.canonical
    assert struct.unpack(">Q", witness_line.payload[4:12])[0] == derived["cosignature_timestamp"]


def test_round_trip_and_vkey() -> None:
    line = WITNESS.cosign(CHECKPOINT.body(), 1_700_000_000)
    assert line.startswith("— witness.example/w1 ") and line.endswith("\n")
    payload = base64.b64decode(line.split(" ")[2])
    verifier = CosignatureVerifier.from_string(WITNESS.vkey())
    assert verifier.key_id == cosigner_key_id("witness.example/w1", verifier.public_raw) == payload[:4]
    assert base64.b64decode(WITNESS.vkey().split("+", 2)[2])[:1] == b"\x04"
    assert verifier.verify(CHECKPOINT.body(), payload) == 1_700_000_000
    other = Checkpoint(ORIGIN, 43, CHECKPOINT.root_hash).body()
    with pytest.raises(NoteError, match="invalid cosignature") as caught:
        verifier.verify(other, payload)
    assert caught.value.code == "bad-cosignature"
    # The witness's key under type 0x01 would have another ID: a cosignature never matches a note key.
    assert NoteSigner("witness.example/w1", _key("w1")).key_hash != verifier.key_id


def test_cosigned_note_still_opens_with_the_log_key() -> None:
    cosigned = add_signature_lines(NOTE, [WITNESS.cosign(CHECKPOINT.body(), 7)])
    assert add_signature_lines(cosigned, [WITNESS.cosign(CHECKPOINT.body(), 8)]) == cosigned  # one per key
    assert open_note(cosigned, LOG_VERIFIERS).verified_by == [ORIGIN]


def _line(name: str, payload_b64: str) -> str:
    return f"— {name} {payload_b64}\n"


def _non_canonical(payload: bytes) -> str:
    """Base64 of ``payload`` with non-zero padding bits (decodes to the same bytes)."""
    text = base64.b64encode(payload).decode()
    data = text.rstrip("=")
    assert data != text  # padded: the last character has unused low bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    changed = data[:-1] + alphabet[alphabet.index(data[-1]) | 1] + text[len(data) :]
    assert changed != text and base64.b64decode(changed) == payload
    return changed


@pytest.mark.parametrize(
    "line",
    [
        _line("stranger.example", _non_canonical(bytes(68 + 2))),  # non-canonical padding bits
        _line("stranger.example", base64.b64encode(b"\x01\x02\x03").decode()),  # too short for a key ID
        _line("stranger.example", base64.b64encode(b"\x01\x02\x03\x04").decode()),  # key ID, no signature
        _line(ORIGIN, _non_canonical(b"\xff\xff\xff\xff" + bytes(66))),  # the log's name, another key ID
    ],
    ids=["non-canonical", "3-bytes", "4-bytes", "known-name-other-id"],
)
def test_unknown_keys_lines_are_ignored_whatever_their_encoding(line: str) -> None:
    note = NOTE + line
    assert open_note(note, LOG_VERIFIERS).verified_by == [ORIGIN]


def test_known_keys_malformed_line_is_still_rejected() -> None:
    payload = base64.b64decode(NOTE.split("\n\n")[1].split(" ")[2])
    note = NOTE.split("\n\n")[0] + "\n\n" + _line(ORIGIN, _non_canonical(payload))
    with pytest.raises(NoteError, match="not the canonical base64") as caught:
        open_note(note, LOG_VERIFIERS)
    assert caught.value.code == "malformed-note"
    short = NOTE + _line(ORIGIN, base64.b64encode(LOG.key_hash).decode())  # the key ID alone
    with pytest.raises(NoteError, match="too short") as caught:
        open_note(short, LOG_VERIFIERS)
    assert caught.value.code == "malformed-note"


def test_undecodable_base64_is_malformed_for_any_key() -> None:
    """As in golang.org/x/mod/sumdb/note: a line that is not base64 at all spoils the note."""
    with pytest.raises(NoteError, match="not standard padded base64"):
        open_note(NOTE + _line("stranger.example", "not*base64"), LOG_VERIFIERS)
