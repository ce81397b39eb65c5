"""The fixture generator writes deterministic, valid exports; ``certctl fixtures`` drives it."""

from __future__ import annotations

import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from certlife.contracts.canonical import parse_canonical
from certlife.contracts.keys import key_id, public_raw
from certlife.contracts.merkle import MerkleFrontier, leaf_hash
from certlife.contracts.notes import NoteSigner, verify_checkpoint
from certlife.contracts.records import Record, parse_record, record_hash
from certlife.contracts.trust import KeyRing, TrustFile
from certlife.domain.lifecycle import LifecycleEvent, Status, next_status
from certlife.services.cli import certctl
from certlife.services.demo.fixturegen import signing
from certlife.services.demo.fixturegen.keys import run_key
from certlife.services.demo.fixturegen.plan import Planner, Step
from certlife.services.demo.fixturegen.signing import RecordStream, SigningError
from certlife.services.demo.fixtures import FixtureError, generate
from certlife.services.partner.export import read_checkpoints, read_log_lines, read_trust

pytestmark = pytest.mark.unit

ORIGIN = "certlife.example/log"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A moderately sized export: 300 certificates, checkpoints every 100 records."""
    out = tmp_path_factory.mktemp("fixture")
    generate(out, 300, seed=11, checkpoint_every=100)
    return out


@pytest.fixture(scope="module")
def records(export: Path) -> list[Record]:
    """The parsed records of ``export``, in file order."""
    return [parse_record(line) for _, line in read_log_lines(export)]


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def test_same_arguments_give_byte_identical_exports(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", 150, seed=5, checkpoint_every=64)
    second = generate(tmp_path / "b", 150, seed=5, checkpoint_every=64)
    assert first.root_hash == second.root_hash
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert "checkpoints/64" in _files(tmp_path / "a")


def test_another_seed_gives_other_keys_and_records(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", 20, seed=5)
    second = generate(tmp_path / "b", 20, seed=6)
    assert first.record_key_ids != second.record_key_ids
    assert first.root_hash != second.root_hash


def test_worker_processes_do_not_change_the_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signing, "CHUNK_SIZE", 50)  # many chunks in flight at once
    generate(tmp_path / "inline", 150, seed=8, checkpoint_every=70, workers=0)
    generate(tmp_path / "pool", 150, seed=8, checkpoint_every=70, workers=2)
    assert _files(tmp_path / "inline") == _files(tmp_path / "pool")


def test_every_line_is_canonical_and_indexes_run_from_zero(export: Path) -> None:
    count = 0
    for number, line in read_log_lines(export):
        obj = parse_canonical(line)
        assert obj["index"] == number - 1
        assert obj["origin"] == ORIGIN
        count = number
    assert count > 600  # several records per certificate


def test_certificate_chains_and_transitions_are_legal(records: list[Record]) -> None:
    last: dict[str, Record] = {}
    status: dict[str, Status] = {}
    previous_time = ""
    for record in records:
        assert record.recorded_at >= previous_time  # interleaved in time order
        previous_time = record.recorded_at
        if record.kind != "certificate":
            continue
        number = record.number
        assert number is not None
        before = last.get(number)
        assert record.effective_at <= record.recorded_at
        if before is None:
            assert (record.seq, record.prev, record.event) == (1, None, "issued")
        else:
            assert record.seq == before.seq + 1
            assert record.prev == record_hash(before.raw)
            assert record.certificate["scheme"] == before.certificate["scheme"]
        after = next_status(status.get(number), LifecycleEvent(record.event))
        assert record.status == after
        assert record.certificate["validUntil"] > record.certificate["validFrom"]
        status[number], last[number] = after, record
    assert len(last) == 300
    assert len({r.certificate["holder"] for r in last.values()}) < 300  # holders hold several


def test_every_event_and_status_appears(records: list[Record]) -> None:
    certificates = [r for r in records if r.kind == "certificate"]
    assert {r.event for r in certificates} == {e.value for e in LifecycleEvent}
    assert {r.status for r in certificates} == {s.value for s in Status}
    assert {r.certificate["scheme"] for r in certificates} == {"CCC", "CQC", "CB", "E-mark"}
    assert any(r.prev is not None and r.certificate["validFrom"] >= "2025" for r in certificates)


def test_one_rotation_near_the_middle_and_trust_follows_it(export: Path, records: list[Record]) -> None:
    rotations = [r for r in records if r.kind == "key"]
    assert [r.action for r in rotations] == ["rotate"]
    index = rotations[0].index
    assert 0.3 < index / len(records) < 0.7
    trust = read_trust(export)
    first, second = trust.record_keys
    assert (first.valid_from_index, first.valid_until_index) == (0, index + 1)
    assert (second.valid_from_index, second.valid_until_index) == (index + 1, None)
    assert (first.key_id, second.key_id) == (rotations[0].key_id, rotations[0].new_key_id)
    assert {r.key_id for r in records[: index + 1]} == {first.key_id}
    assert {r.key_id for r in records[index + 1 :]} == {second.key_id}


def test_every_signature_verifies_under_the_trusted_key(export: Path, records: list[Record]) -> None:
    trust = read_trust(export)
    ring = KeyRing(trust)
    for record in records:
        assert ring.key_for(record.key_id, record.index).covers(record.index)
        ring.verify(record)
    # Starting from the first key alone, replaying the log yields the same trust file.
    first = trust.record_keys[0]
    alone = TrustFile(ORIGIN, (first.__class__(first.key_id, first.public_raw),), trust.note_keys)
    replay = KeyRing(alone)
    for record in records:
        replay.verify(record)
    assert replay.trust_file() == trust


def test_checkpoints_sign_the_merkle_root_at_their_size(export: Path, records: list[Record]) -> None:
    trust = read_trust(export)
    verifiers = KeyRing(trust).note_verifiers()
    checkpoints = dict(read_checkpoints(export))
    expected = list(range(100, len(records) + 1, 100))
    assert sorted(checkpoints) == expected + ([len(records)] if len(records) % 100 else [])
    frontier = MerkleFrontier()
    for record in records:
        frontier.append(leaf_hash(record.raw))
        if frontier.size in checkpoints:
            checkpoint = verify_checkpoint(checkpoints[frontier.size], verifiers, ORIGIN)
            assert (checkpoint.size, checkpoint.root_hash) == (frontier.size, frontier.root())


def test_pem_files_hold_the_final_record_key_and_the_note_key(export: Path) -> None:
    trust = read_trust(export)
    signing_key = load_pem_private_key((export / "fixture-signing-key.pem").read_bytes(), password=None)
    note_key = load_pem_private_key((export / "fixture-note-key.pem").read_bytes(), password=None)
    assert isinstance(signing_key, Ed25519PrivateKey) and isinstance(note_key, Ed25519PrivateKey)
    assert key_id(public_raw(signing_key)) == trust.record_keys[-1].key_id
    assert trust.record_keys[-1].valid_until_index is None
    assert NoteSigner(ORIGIN, note_key).verifier_key() == trust.note_keys[0]
    for name in ("fixture-signing-key.pem", "fixture-note-key.pem"):
        assert stat.S_IMODE((export / name).stat().st_mode) == 0o600
    assert "TEST-ONLY" in (export / "README.txt").read_text()


def test_small_run_has_one_key_and_a_final_checkpoint(tmp_path: Path) -> None:
    summary = generate(tmp_path, 10, seed=1, checkpoint_every=1000)
    trust = read_trust(tmp_path)
    assert summary.key_rotations == 0 and len(trust.record_keys) == 1
    assert trust.record_keys[0].valid_until_index is None
    assert [size for size, _ in read_checkpoints(tmp_path)] == [summary.records]
    assert summary.events["issued"] == 10


def test_progress_reports_certificates_and_records(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    summary = generate(tmp_path, 120, seed=2, progress=lambda c, r: calls.append((c, r)))
    assert calls[-1] == (120, summary.records)
    assert calls == sorted(calls)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"certificates": 0}, "certificates must be a positive integer"),
        ({"checkpoint_every": 0}, "checkpoint_every must be a positive integer"),
        ({"origin": "two words"}, "without spaces"),
        ({"workers": -1}, "workers must be a non-negative integer"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"certificates": 5, "seed": 1} | kwargs
    with pytest.raises(FixtureError, match=message):
        generate(tmp_path, **args)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = certctl.main(["fixtures", "--out", str(out), "--certificates", "30", "--seed", "4"])
    printed = capsys.readouterr()
    assert code == 0 and printed.err == ""
    assert len(printed.out.splitlines()) == 1
    assert "30 certificates" in printed.out and "0 key rotation(s)" in printed.out
    records = sum(1 for _ in read_log_lines(out))
    assert printed.out.startswith(f"{records} records")


def test_cli_refuses_a_non_empty_directory_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    argv = ["fixtures", "--out", str(tmp_path), "--certificates", "5", "--seed", "4"]
    with pytest.raises(SystemExit) as refused:
        certctl.main(argv)
    assert refused.value.code == 2
    assert (
        capsys.readouterr().err.strip()
        == f"certctl: error: {tmp_path} is not empty (use --force to replace the export in it)"
    )
    assert not (tmp_path / "log.jsonl").exists()
    assert certctl.main([*argv, "--force"]) == 0
    assert (tmp_path / "log.jsonl").exists() and (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "args",
    [
        ["--certificates", "0", "--seed", "1"],
        ["--certificates", "x", "--seed", "1"],
        ["--certificates", "5", "--seed", "1", "--checkpoint-every", "0"],
        ["--certificates", "5", "--seed", "1", "--origin", "a+b"],
        ["--certificates", "5"],
    ],
)
def test_cli_bad_arguments_exit_2_without_traceback(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certlife.services.cli.certctl",
            "fixtures",
            "--out",
            str(tmp_path / "o"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o" / "log.jsonl").exists()


def test_cli_output_path_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(SystemExit) as failed:
        certctl.main(["fixtures", "--out", str(tmp_path / "f"), "--certificates", "5", "--seed", "1"])
    assert failed.value.code == 2
    assert "exists and is not a directory" in capsys.readouterr().err


def test_event_counts_match_the_log(tmp_path: Path) -> None:
    summary = generate(tmp_path, 200, seed=9)
    counted = Counter(r.event for _, line in read_log_lines(tmp_path) if (r := parse_record(line)).event)
    assert summary.events == dict(counted)
    assert summary.records == sum(counted.values()) + summary.key_rotations


def _out_of_order_steps() -> list[Step]:
    steps = list(Planner(5, run_key(1)).steps())
    return [next(s for s in steps if s.seq == 2)]  # a second record without the first


def test_a_record_out_of_chain_order_is_refused_inline() -> None:
    stream = RecordStream(run_key(1), ORIGIN, workers=0)
    with stream, pytest.raises(SigningError, match="arrived out of order"):
        list(stream.batches(_out_of_order_steps()))


def test_a_failing_worker_is_reported_not_hung() -> None:
    stream = RecordStream(run_key(1), ORIGIN, workers=1)
    with stream, pytest.raises(SigningError, match=r"signing worker 0 failed: SigningError: .*out of order"):
        list(stream.batches(_out_of_order_steps()))
