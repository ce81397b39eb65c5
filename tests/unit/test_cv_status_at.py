"""``certverify status NUMBER SOURCE --at INSTANT``: the status at an instant from the certificate's chain.

Before issue, during a suspension, after reinstatement, after revocation
(also one recorded later but effective earlier), after expiry, bad
instants; the records shown and their inclusion proofs; over an export, a
fixtures export and tlog-tiles over HTTP.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from certlife.contracts.merkle import leaf_hash, verify_inclusion
from certlife.contracts.verification.at_instant import parse_instant
from certlife.services.demo.fixtures import generate
from certlife.services.partner.certverify import main
from tests.unit.logbuilder import LogBuilder
from tests.unit.tiles_helpers import serve_tiles, write_tiles

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def log() -> LogBuilder:
    """A-1: issued 00:00, suspended 00:02, reinstated 00:03, amended 00:06 (unanchored).

    B-1: issued 00:01, revoked 00:04. C-1: issued 00:05, revoked at 00:07 effective 00:05:30 (backdated).
    """
    b = LogBuilder()
    b.add("A-1", "issued", "valid")
    b.add("B-1", "issued", "valid")
    b.add("A-1", "suspended", "suspended")
    b.add("A-1", "reinstated", "valid")
    b.add("B-1", "revoked", "revoked")
    b.add("C-1", "issued", "valid")
    b.checkpoint()
    b.add("A-1", "amended", "valid")
    b.add("C-1", "revoked", "revoked", effective_at="2025-03-01T00:05:30Z")
    return b


@pytest.fixture(scope="module")
def export(log: LogBuilder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return log.write_export(tmp_path_factory.mktemp("at") / "export")


def _at(
    capsys: pytest.CaptureFixture[str], source: Path | str, number: str, at: str, *extra: str
) -> tuple[int, Any]:
    trust = source / "trust.json" if isinstance(source, Path) else extra[0]
    more = extra if isinstance(source, Path) else extra[1:]
    code = main(["status", number, str(source), "--trust", str(trust), "--at", at, "--json", *more])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize(
    ("number", "at", "status", "index"),
    [
        ("A-1", "2025-03-01T00:01:59Z", "valid", 0),  # issued
        ("A-1", "2025-03-01T00:02:00Z", "suspended", 2),  # the suspension takes effect at its instant
        ("A-1", "2025-03-01T00:02:59.999Z", "suspended", 2),
        ("A-1", "2025-03-01T00:03:00Z", "valid", 3),  # after reinstatement
        ("A-1", "2025-03-01T01:02:30+01:00", "suspended", 2),  # an offset is converted to UTC
        ("B-1", "2025-03-01T00:03:59Z", "valid", 1),
        ("B-1", "2025-03-01T00:04:00Z", "revoked", 4),  # after revocation
        ("B-1", "2030-01-01T00:00:00Z", "revoked", 4),  # revoked stays revoked past validUntil
        ("C-1", "2025-03-01T00:05:29Z", "valid", 5),
        ("C-1", "2025-03-01T00:05:30Z", "revoked", 7),  # recorded later, effective earlier: it decides
        ("A-1", "2027-12-31T23:59:59Z", "valid", 6),
        ("A-1", "2028-01-01T00:00:00Z", "expired", 6),  # validUntil 2028-01-01 (midnight UTC): expired
    ],
)
def test_status_at_an_instant(
    export: Path, capsys: pytest.CaptureFixture[str], number: str, at: str, status: str, index: int
) -> None:
    code, report = _at(capsys, export, number, at)
    answer = report["answer"]
    assert (code, report["ok"], answer["status"], answer["index"]) == (0, True, status, index)
    assert answer["decidingRecord"]["index"] == index
    assert answer["at"] == parse_instant(at).isoformat().replace("+00:00", "Z")


def test_before_issue_is_not_yet_issued_exit_1(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _at(capsys, export, "A-1", "2025-02-28T23:59:59Z")
    assert code == 1 and report["ok"] is False
    assert report["answer"]["status"] == "unknown" and report["answer"]["decidingRecord"] is None
    assert report["failure"]["code"] == "not-yet-issued" and report["failure"]["check"] == "lookup"
    assert "2025-03-01T00:00:00Z" in report["failure"]["message"]  # when its first record takes effect
    assert report["answer"]["nextRecord"]["index"] == 0


def test_unknown_certificate_is_not_found(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _at(capsys, export, "Z-9", "2025-03-01T00:02:00Z")
    assert code == 1 and report["failure"]["code"] == "certificate-not-found"
    assert report["evidence"]["records"] == []


def test_human_output_names_the_deciding_and_the_next_record(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "status",
        "A-1",
        str(export),
        "--trust",
        str(export / "trust.json"),
        "--at",
        "2025-03-01T00:02:30Z",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "status of A-1 at 2025-03-01T00:02:30Z: suspended (index 2, checkpoint of size 6" in out
    assert "decided by record index 2 (seq 2, suspended -> suspended" in out
    assert "then record index 3 (seq 3, reinstated -> valid" in out
    assert out.rstrip().endswith("VERIFIED")
    assert main([*argv[:-1], "2025-01-01T00:00:00Z"]) == 1
    assert "not-yet-issued" in capsys.readouterr().out


def test_records_and_inclusion_proofs(
    export: Path, log: LogBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _at(capsys, export, "A-1", "2025-03-01T00:02:30Z")
    evidence = report["evidence"]
    assert code == 0 and evidence["treeSize"] == 6 and evidence["checkpoint"] == log.checkpoints[-1][1]
    assert [r["index"] for r in evidence["records"]] == [0, 2, 3, 6]
    root = base64.b64decode(report["latestCheckpoint"]["root"])
    for entry in evidence["records"]:
        raw = entry["record"].encode()
        assert raw == log.records[entry["index"]]
        if entry["index"] >= 6:
            assert entry["proof"] is None  # past the newest checkpoint: unanchored
            continue
        proof = [base64.b64decode(h) for h in entry["proof"]]
        verify_inclusion(leaf_hash(raw), entry["index"], 6, proof, root)
        with pytest.raises(Exception, match="root"):
            verify_inclusion(leaf_hash(raw + b" "), entry["index"], 6, proof, root)


def test_unanchored_record_with_checkpoint_signatures_is_unknown(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _at(capsys, export, "A-1", "2025-03-01T00:07:00Z", "--signatures", "checkpoints")
    assert code == 1 and report["failure"]["code"] == "not-anchored"
    code, report = _at(capsys, export, "A-1", "2025-03-01T00:02:30Z", "--signatures", "checkpoints")
    assert code == 0 and report["answer"]["status"] == "suspended"


def test_max_age_is_measured_from_now(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _at(capsys, export, "A-1", "2025-03-01T00:02:30Z", "--max-age", "1d")
    assert code == 1 and report["failure"]["code"] == "stale-checkpoint"  # the checkpoint is from 2025


@pytest.mark.parametrize(
    "instant",
    ["yesterday", "2025-03-01", "2025-03-01T00:00:00", "2025-02-30T00:00:00Z", "2025-03-01T24:00:00Z", ""],
)
def test_bad_instant_is_one_line_exit_2(
    export: Path, capsys: pytest.CaptureFixture[str], instant: str
) -> None:
    code = main(["status", "A-1", str(export), "--trust", str(export / "trust.json"), "--at", instant])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("certverify: error: --at: not an RFC 3339 instant")


def test_database_with_at_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "A-1", "--database", "postgresql://nowhere/x", "--at", "2025-03-01T00:00:00Z"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--at needs a SOURCE" in err


def test_fixtures_export_agrees_with_plain_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Over a ``certctl fixtures`` export: at the newest record's effectiveAt, the answer is plain status's."""
    out = tmp_path / "export"
    generate(out, certificates=40, seed=5, checkpoint_every=25, workers=0)
    lines = (out / "log.jsonl").read_bytes().splitlines()
    chains: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        record = json.loads(line)
        if record["kind"] == "certificate":
            chains.setdefault(record["certificate"]["number"], []).append(record)
    number, chain = max(chains.items(), key=lambda item: len(item[1]))
    trust = str(out / "trust.json")
    for jobs in ("1", "2"):
        code = main(["status", number, str(out), "--trust", trust, "--json", "--jobs", jobs])
        plain = json.loads(capsys.readouterr().out)
        newest = chain[-1]
        code_at, at = _at(capsys, out, number, newest["effectiveAt"], "--jobs", jobs)
        assert (code_at, at["answer"]["index"]) == (code, plain["answer"]["index"])
        assert len(at["evidence"]["records"]) == len(chain)


def test_over_tiles(
    log: LogBuilder, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size, note = log.checkpoints[-1]
    tiles = write_tiles(tmp_path / "tiles", log.records[:size], note)
    trust = str(export / "trust.json")
    with serve_tiles(tiles) as server:
        code, report = _at(capsys, server.url, "A-1", "2025-03-01T00:02:30Z", trust)
        assert (code, report["answer"]["status"], report["answer"]["index"]) == (0, "suspended", 2)
        code, report = _at(capsys, server.url, "B-1", "2025-03-01T00:00:30Z", trust)
        assert code == 1 and report["failure"]["code"] == "not-yet-issued"


def test_expired_then_renewed_uses_each_records_own_validity() -> None:
    """The deciding record's validUntil counts: expired between the end and the renewal, valid after it."""
    from certlife.contracts.verification.at_instant import chain_of, decide_at
    from tests.unit.logbuilder import certificate

    b = LogBuilder()
    first = {**certificate("R-1"), "validFrom": "2025-01-01T00:00:00Z", "validUntil": "2026-01-01T00:00:00Z"}
    renewed = {**first, "validUntil": "2029-01-01T00:00:00Z"}
    b.add("R-1", "issued", "valid", certificate=first, effective_at="2025-01-01T00:00:00Z")
    b.add("R-1", "expired", "expired", certificate=first, effective_at="2026-01-01T00:00:00Z")
    b.add("R-1", "renewed", "valid", certificate=renewed, effective_at="2026-02-01T00:00:00Z")
    leaves = b"".join(leaf_hash(raw) for raw in b.records)
    chain = chain_of("R-1", [*b.records, b.records[1]], leaves)  # a repeated record counts once
    assert [r.index for r in chain] == [0, 1, 2]
    now = parse_instant("2026-06-01T00:00:00Z")
    for at, status, index in [
        ("2025-12-31T23:59:59Z", "valid", 0),
        ("2026-01-15T00:00:00Z", "expired", 1),
        ("2026-02-01T00:00:00Z", "valid", 2),
        ("2029-01-01T00:00:00Z", "expired", 2),  # past the renewed validity: expired, not recorded yet
    ]:
        answer = decide_at("R-1", chain, parse_instant(at), None, now=now).answer
        assert (answer.status, answer.index) == (status, index), at
    other = chain_of("R-2", b.records, leaves)
    assert other == [] and chain_of("R-1", [b.records[0] + b" "], leaves) == []  # not the log's bytes
