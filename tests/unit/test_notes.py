"""C2SP signed notes and checkpoints: spec examples, round trips and tampering."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.errors import NoteError
from certlife.contracts.notes import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_note,
    parse_note,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)
from certlife.contracts.verification import VerificationError
from certlife.contracts.verification.checkpoints import open_checkpoint

pytestmark = pytest.mark.unit

EXAMPLES = json.loads((Path(__file__).parents[1] / "vectors" / "c2sp" / "examples.json").read_text())
VKEY = next(e for e in EXAMPLES if e["kind"] == "verifier_key")
EXAMPLE_NOTE = EXAMPLES[2]
ORIGIN = "certlife.example/log"


def _signer(name: str = ORIGIN) -> NoteSigner:
    return NoteSigner(name, Ed25519PrivateKey.generate())


def test_spec_verifier_key_parses_and_verifies_spec_note() -> None:
    verifier = NoteVerifier.from_string(VKEY["text"])
    assert verifier.name == VKEY["derived"]["key_name"] == "example.com/foo"
    assert verifier.key_hash.hex() == "530d903a"
    assert verifier.public_raw.hex() == VKEY["derived"]["public_key_hex"]
    note = open_note(EXAMPLE_NOTE["text"], [verifier])
    assert note.text == "This is an example message.\n"
    assert note.verified_by == ["example.com/foo"]


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES[:5] if e["kind"] != "verifier_key"], ids=lambda e: e["source"]
)
def test_spec_notes_parse_and_expose_key_ids(example: dict) -> None:
    text, sigs = parse_note(example["text"])
    assert example["text"].startswith(text)
    key_ids = [key_hash.hex() for _, key_hash, _ in sigs]
    derived = example["derived"]
    assert (derived.get("signature_key_id_hex") or derived["log_signature_key_id_hex"]) in key_ids
    # No verifier key is known for these names, so the note cannot be opened.
    if example is not EXAMPLE_NOTE:
        with pytest.raises(NoteError, match="no known key") as info:
            open_note(example["text"], [NoteVerifier.from_string(VKEY["text"])])
        assert info.value.code == "unverified-note"


def test_spec_checkpoint_body_parses() -> None:
    text, _ = parse_note(EXAMPLES[3]["text"])
    cp = Checkpoint.parse(text)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert base64.b64encode(cp.root_hash).decode() == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    assert cp.body() == text


def test_spec_proof_example_with_elided_signatures_is_malformed() -> None:
    with pytest.raises(NoteError, match="malformed note"):
        parse_note(EXAMPLES[6]["text"])


def test_tampered_spec_note_fails_with_known_key() -> None:
    verifier = NoteVerifier.from_string(VKEY["text"])
    tampered = EXAMPLE_NOTE["text"].replace("example message", "exemplary message")
    with pytest.raises(NoteError, match="invalid signature by known key") as info:
        open_note(tampered, [verifier])
    assert info.value.code == "bad-signature"


@pytest.mark.parametrize(
    "vkey",
    [
        "example.com/foo+530d903a",
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "a b+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_verifier_keys(vkey: str) -> None:
    with pytest.raises(NoteError, match="malformed verifier key"):
        NoteVerifier.from_string(vkey)


def test_sign_and_open_with_unknown_extra_signature() -> None:
    log, witness, stranger = _signer(), _signer("witness.example/w1"), _signer(ORIGIN)
    note = sign_note("hello\n\nworld\n", [stranger, log, witness])
    verifiers = [NoteVerifier.from_string(s.verifier_key()) for s in (log, witness)]
    opened = open_note(note, verifiers)
    assert opened.text == "hello\n\nworld\n"
    assert opened.verified_by == [ORIGIN, "witness.example/w1"]
    with pytest.raises(NoteError, match="no known key"):
        open_note(note, [NoteVerifier.from_string(_signer().verifier_key())])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n[:-1],  # no final newline
        lambda n: n.replace("\n\n", "\n"),  # no blank line
        lambda n: n.replace("— ", "-- "),  # not an em dash
        lambda n: n.replace("text\n", "te\x01xt\n"),  # control character
        lambda n: n.rstrip("\n").rstrip("=") + "\n",  # unpadded base64
        lambda n: n + "\n",  # empty signature line
        lambda n: n.split("\n\n")[0] + "\n\n",  # no signatures
    ],
)
def test_malformed_notes_raise_before_verifying(mutate) -> None:
    signer = _signer()
    note = sign_note("text\n", [signer])
    with pytest.raises(NoteError, match="malformed note") as info:
        open_note(mutate(note), [NoteVerifier.from_string(signer.verifier_key())])
    assert info.value.code == "malformed-note"


def test_checkpoint_round_trip_and_origin_check() -> None:
    signer = _signer()
    cp = Checkpoint(ORIGIN, 42, bytes(range(32)))
    note = sign_checkpoint(cp, signer)
    assert note.startswith(f"{ORIGIN}\n42\n{base64.b64encode(bytes(range(32))).decode()}\n\n— ")
    verifiers = [NoteVerifier.from_string(signer.verifier_key())]
    assert verify_checkpoint(note, verifiers, ORIGIN) == cp
    with pytest.raises(NoteError) as info:
        verify_checkpoint(note, verifiers, "other.example/log")
    assert info.value.code == "wrong-origin"


def test_checkpoint_extension_lines_are_kept() -> None:
    cp = Checkpoint.parse(f"{ORIGIN}\n0\n{base64.b64encode(bytes(32)).decode()}\next one\n")
    assert cp.size == 0 and cp.extensions == ("ext one",)
    assert Checkpoint.parse(cp.body()) == cp


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n01\n{base64.b64encode(bytes(32)).decode()}\n",
        f"{ORIGIN}\n-1\n{base64.b64encode(bytes(32)).decode()}\n",
        f"{ORIGIN}\n\u0661\n{base64.b64encode(bytes(32)).decode()}\n",
        f"{ORIGIN}\n1\n{base64.b64encode(bytes(31)).decode()}\n",
        f"{ORIGIN}\n1\n{base64.b64encode(bytes(32)).decode().rstrip('=')}\n",
        f"{ORIGIN}\n1\n{base64.b64encode(bytes(32)).decode()}",
        f"{ORIGIN}\n1\n{base64.b64encode(bytes(32)).decode()}\n\next\n",
        f"\n1\n{base64.b64encode(bytes(32)).decode()}\n",
        f"{ORIGIN}\n1\n",
    ],
)
def test_malformed_checkpoints(body: str) -> None:
    with pytest.raises(NoteError, match="malformed checkpoint"):
        Checkpoint.parse(body)


def test_signer_rejects_bad_names_and_texts() -> None:
    for name in ("", "a+b", "a b", "a\u2003b"):
        with pytest.raises(NoteError):
            NoteSigner(name, Ed25519PrivateKey.generate())
    with pytest.raises(NoteError):
        sign_note("no newline", [_signer()])


_OTHER = "other.example/log"


@pytest.mark.parametrize(
    ("change", "note_code", "step_code"),
    [
        (lambda note, signer: note, None, None),
        (lambda note, signer: note.replace("\n3\n", "\n4\n", 1), "bad-signature", "checkpoint-bad-signature"),
        (
            lambda note, signer: sign_checkpoint(Checkpoint(_OTHER, 3, bytes(32)), signer),
            "wrong-origin",
            "checkpoint-wrong-origin",
        ),
        (
            lambda note, signer: sign_checkpoint(Checkpoint(ORIGIN, 3, bytes(32)), _signer()),
            "unverified-note",
            "checkpoint-unverified",
        ),
        (
            lambda note, signer: sign_note("no checkpoint\n", [signer]),
            "malformed-checkpoint",
            "checkpoint-malformed",
        ),
        (lambda note, signer: note.rstrip("\n"), "malformed-note", "checkpoint-malformed"),
    ],
)
def test_the_verifier_checkpoint_step_is_this_checkpoint_verifier(change, note_code, step_code) -> None:
    """``open_checkpoint`` (``certverify`` steps C1-C2) answers what ``verify_checkpoint`` answers, same words."""
    signer = _signer()
    verifiers = [NoteVerifier.from_string(signer.verifier_key())]
    note = change(sign_checkpoint(Checkpoint(ORIGIN, 3, bytes(32)), signer), signer)
    checks: Counter[str] = Counter()
    if note_code is None:
        opened = open_checkpoint(note, verifiers, ORIGIN, checks)
        assert (opened.size, opened.root) == (3, verify_checkpoint(note, verifiers, ORIGIN).root_hash)
        assert checks == {"checkpoint-signature": 1, "checkpoint-origin": 1}
        return
    with pytest.raises(NoteError) as by_notes:
        verify_checkpoint(note, verifiers, ORIGIN)
    with pytest.raises(VerificationError) as by_step:
        open_checkpoint(note, verifiers, ORIGIN, checks)
    assert (by_notes.value.code, by_step.value.failure.code) == (note_code, step_code)
    assert by_step.value.failure.message == str(by_notes.value)
