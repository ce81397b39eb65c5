"""C2SP tlog-witness wire format: add-checkpoint bodies and conflict answers, round trips and refusals."""

from __future__ import annotations

import base64
import hashlib

import pytest

from certlife.contracts.witness import (
    MAX_REQUEST_BYTES,
    AddCheckpoint,
    WitnessProtocolError,
    encode_add_checkpoint,
    encode_conflict,
    parse_add_checkpoint,
    parse_conflict,
    parse_cosignature_lines,
)

pytestmark = pytest.mark.unit

NOTE = "example.com/log\n5\n" + "A" * 43 + "=\n\n— example.com/log AAAAAQ==\n"
HASHES = tuple(hashlib.sha256(bytes([i])).digest() for i in range(3))


def test_spec_example_request_parses() -> None:
    body = (
        "old 20852014\n"
        "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
        "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
        "\n"
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    ).encode()
    request = parse_add_checkpoint(body)
    assert request.old_size == 20852014
    assert len(request.proof) == 2 and request.proof[0][:2] == bytes.fromhex("3e54")
    assert request.note.startswith("example.com/behind-the-sofa\n20852163\n")


@pytest.mark.parametrize("proof", [(), HASHES[:1], HASHES])
@pytest.mark.parametrize("old_size", [0, 1, 2**64 - 1])
def test_round_trip(old_size: int, proof: tuple[bytes, ...]) -> None:
    body = encode_add_checkpoint(old_size, proof, NOTE)
    assert parse_add_checkpoint(body) == AddCheckpoint(old_size, proof, NOTE)
    assert encode_add_checkpoint(old_size, proof, NOTE) == body


def test_encoding_is_the_spec_layout() -> None:
    body = encode_add_checkpoint(3, HASHES[:1], NOTE).decode()
    assert body.startswith("old 3\n" + base64.b64encode(HASHES[0]).decode() + "\n\n")
    assert body.endswith(NOTE)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 1\n",  # no empty line
        ("old 01\n\n" + NOTE).encode(),  # leading zero
        ("old -1\n\n" + NOTE).encode(),
        ("old  1\n\n" + NOTE).encode(),
        ("old 1 \n\n" + NOTE).encode(),
        ("Old 1\n\n" + NOTE).encode(),
        ("old\n\n" + NOTE).encode(),
        (f"old {2**64}\n\n" + NOTE).encode(),
        ("\nold 1\n\n" + NOTE).encode(),
        ("old 1\nnot base64!\n\n" + NOTE).encode(),
        ("old 1\nAAAA\n\n" + NOTE).encode(),  # 3-byte hash
        ("old 1\n" + "A" * 42 + "==\n\n" + NOTE).encode(),  # non-canonical / 31 bytes
        ("old 1\n" + "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw\n\n" + NOTE).encode(),  # unpadded
        b"old 1\n\n",  # no note
        ("old 1\n\n" + NOTE.rstrip("\n")).encode(),  # note without final newline
        b"old 1\n\n\xff\xfe\n",  # not UTF-8
        b"old 1\r\n\r\n" + NOTE.encode(),
    ],
)
def test_malformed_requests_are_refused(body: bytes) -> None:
    with pytest.raises(WitnessProtocolError) as info:
        parse_add_checkpoint(body)
    assert info.value.code == "malformed-witness-request"


def test_too_many_proof_lines_and_too_large_body() -> None:
    proof64 = "".join("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n" for _ in range(64))
    with pytest.raises(WitnessProtocolError, match="63"):
        parse_add_checkpoint(("old 1\n" + proof64 + "\n" + NOTE).encode())
    assert len(parse_add_checkpoint(encode_add_checkpoint(1, HASHES[:1] * 63, NOTE)).proof) == 63
    with pytest.raises(WitnessProtocolError, match="larger"):
        parse_add_checkpoint(b"old 1\n\n" + b"x" * MAX_REQUEST_BYTES)
    with pytest.raises(WitnessProtocolError):
        encode_add_checkpoint(1, HASHES[:1] * 64, NOTE)
    with pytest.raises(WitnessProtocolError):
        encode_add_checkpoint(-1, (), NOTE)


@pytest.mark.parametrize("size", [0, 7, 2**64 - 1])
def test_conflict_round_trip(size: int) -> None:
    assert encode_conflict(size) == f"{size}\n".encode()
    assert parse_conflict(encode_conflict(size)) == size


@pytest.mark.parametrize("body", [b"", b"7", b"07\n", b"7\n\n", b" 7\n", b"-1\n", b"seven\n", b"\xff\n"])
def test_malformed_conflict_bodies(body: bytes) -> None:
    with pytest.raises(WitnessProtocolError) as info:
        parse_conflict(body)
    assert info.value.code == "malformed-witness-response"


def test_cosignature_lines() -> None:
    body = "— w1 AAAA\n— w2 BBBB\n".encode()
    assert parse_cosignature_lines(body) == ["— w1 AAAA", "— w2 BBBB"]
    for bad in [b"", b"\n", "— w1 AAAA".encode(), b"- w1 AAAA\n", "— w1 AAAA\n\n".encode()]:
        with pytest.raises(WitnessProtocolError):
            parse_cosignature_lines(bad)
