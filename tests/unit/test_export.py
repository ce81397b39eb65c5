"""The export directory: streaming reads, strict names, and all-or-nothing writes."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.keys import key_id, public_raw
from certlife.contracts.notes import NoteSigner
from certlife.contracts.trust import TrustedKey, TrustFile
from certlife.services.infra.fileio import write_file_atomic
from certlife.services.partner.export import (
    ExportError,
    ExportWriter,
    read_checkpoints,
    read_log_lines,
    read_trust,
)

pytestmark = pytest.mark.unit

ORIGIN = "certlife.example/log"


def _trust() -> TrustFile:
    record_key = public_raw(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    note = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    return TrustFile(ORIGIN, (TrustedKey(key_id(record_key), record_key),), (note.verifier_key(),))


def _write(directory: Path, records: list[bytes], checkpoints: dict[int, str]) -> None:
    with ExportWriter(directory) as writer:
        for record in records:
            writer.append(record)
        for size, note in checkpoints.items():
            writer.write_checkpoint(size, note)
        writer.write_trust(_trust())


def test_round_trip_keeps_exact_bytes_and_counts_lines_from_one(tmp_path: Path) -> None:
    records = [b'{"index":0}', '{"é":"\u2028"}'.encode(), b'{"index":2}']
    _write(tmp_path, records, {3: "note three\n"})
    assert (tmp_path / "log.jsonl").read_bytes() == b"".join(r + b"\n" for r in records)
    assert list(read_log_lines(tmp_path)) == [(1, records[0]), (2, records[1]), (3, records[2])]
    assert read_checkpoints(tmp_path) == [(3, "note three\n")]
    assert read_trust(tmp_path) == _trust()
    assert read_trust(tmp_path / "trust.json") == _trust()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "log.jsonl", "trust.json"]


def test_read_log_lines_is_lazy(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_bytes(b"a\nb\n")
    lines = read_log_lines(tmp_path)
    assert next(lines) == (1, b"a")
    (tmp_path / "log.jsonl").unlink()  # already open: the iterator keeps streaming
    assert list(lines) == [(2, b"b")]


def test_empty_lines_and_carriage_returns_are_returned_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_bytes(b"a\r\n\nb\n")
    assert list(read_log_lines(tmp_path)) == [(1, b"a\r"), (2, b""), (3, b"b")]


def test_truncated_last_line_is_yielded_then_reported(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_bytes(b"a\nb")
    seen = []
    with pytest.raises(ExportError, match=r"log\.jsonl: line 2 does not end in a newline"):
        for item in read_log_lines(tmp_path):
            seen.append(item)
    assert seen == [(1, b"a"), (2, b"b")]


def test_missing_directory_and_missing_log_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=re.escape(f"{tmp_path / 'nope'}: export directory not found")):
        list(read_log_lines(tmp_path / "nope"))
    with pytest.raises(ExportError, match=re.escape(f"{tmp_path / 'log.jsonl'}: log file not found")):
        list(read_log_lines(tmp_path))


def test_checkpoints_sorted_by_number_not_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for size in (100, 9, 10):
        (folder / str(size)).write_text(f"size {size}\n")
    (folder / ".partial").write_text("ignored")
    assert [size for size, _ in read_checkpoints(tmp_path)] == [9, 10, 100]


def test_checkpoint_name_is_returned_even_if_the_note_disagrees(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "7").write_text("origin\n8\nroot\n")
    assert read_checkpoints(tmp_path) == [(7, "origin\n8\nroot\n")]


@pytest.mark.parametrize("name", ["07", "x", "-1", "1.0"])
def test_checkpoint_file_names_must_be_decimal_sizes(tmp_path: Path, name: str) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / name).write_text("n\n")
    with pytest.raises(
        ExportError, match=re.escape(f"checkpoints/{name}: checkpoint file name is not a tree size")
    ):
        read_checkpoints(tmp_path)


def test_checkpoints_must_be_utf8_and_small(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "1").write_bytes(b"\xff\n")
    with pytest.raises(ExportError, match="checkpoints/1: not UTF-8"):
        read_checkpoints(tmp_path)
    (tmp_path / "checkpoints" / "1").write_bytes(b"a" * ((1 << 20) + 1))
    with pytest.raises(ExportError, match="larger than"):
        read_checkpoints(tmp_path)


def test_no_checkpoint_directory_means_no_checkpoints(tmp_path: Path) -> None:
    assert read_checkpoints(tmp_path) == []


def test_trust_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"trust\.json: trust file not found"):
        read_trust(tmp_path)
    (tmp_path / "trust.json").write_text(json.dumps({"v": 2}))
    with pytest.raises(ExportError, match=r"trust\.json: malformed trust file"):
        read_trust(tmp_path)


def test_exception_inside_the_writer_leaves_no_export(tmp_path: Path) -> None:
    out = tmp_path / "export"
    with pytest.raises(RuntimeError), ExportWriter(out) as writer:
        writer.append(b"{}")
        writer.write_checkpoint(1, "note\n")
        writer.write_trust(_trust())
        raise RuntimeError("crash")
    assert list(out.iterdir()) == []


def test_log_is_not_visible_before_the_block_ends(tmp_path: Path) -> None:
    with ExportWriter(tmp_path) as writer:
        writer.append(b"{}")
        writer.write_checkpoint(1, "note\n")
        assert not (tmp_path / "log.jsonl").exists()
        assert not (tmp_path / "checkpoints").exists()
        writer.write_trust(_trust())
    assert (tmp_path / "log.jsonl").exists()


def test_missing_trust_file_fails_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="write_trust was never called"), ExportWriter(tmp_path) as writer:
        writer.append(b"{}")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_previous_export(tmp_path: Path) -> None:
    _write(tmp_path, [b"old"], {1: "old note\n"})
    with pytest.raises(RuntimeError), ExportWriter(tmp_path) as writer:
        writer.append(b"new")
        raise RuntimeError("crash")
    assert list(read_log_lines(tmp_path)) == [(1, b"old")]
    assert read_checkpoints(tmp_path) == [(1, "old note\n")]


def test_overwrite_replaces_every_checkpoint(tmp_path: Path) -> None:
    _write(tmp_path, [b"a", b"b"], {1: "one\n", 2: "two\n"})
    _write(tmp_path, [b"c"], {1: "new one\n"})
    assert list(read_log_lines(tmp_path)) == [(1, b"c")]
    assert read_checkpoints(tmp_path) == [(1, "new one\n")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "log.jsonl", "trust.json"]


def test_checkpoint_size_must_be_a_non_negative_integer(tmp_path: Path) -> None:
    with ExportWriter(tmp_path) as writer:
        with pytest.raises(ExportError, match="checkpoint size -1"):
            writer.write_checkpoint(-1, "n\n")
        writer.write_trust(_trust())


def test_unwritable_directory_is_an_export_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="cannot write the export"), ExportWriter(tmp_path / "file" / "sub"):
        pass


def test_write_file_atomic_sets_the_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    write_file_atomic(tmp_path / "key.pem", b"secret", mode=0o600)
    assert (tmp_path / "key.pem").read_bytes() == b"secret"
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_a_line_over_the_record_limit_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    import tracemalloc

    from certlife.contracts.records import MAX_RECORD_BYTES
    from certlife.services.partner.export import ExportError, read_log_lines

    with (tmp_path / "log.jsonl").open("wb") as out:
        out.write(b"{}\n")
        out.truncate(3 + 40 * MAX_RECORD_BYTES)  # a 40 MiB second line of NUL bytes, no newline
    tracemalloc.start()
    try:
        lines = read_log_lines(tmp_path)
        assert next(lines) == (1, b"{}")
        with pytest.raises(ExportError, match="line 2 is longer than 1048576 bytes"):
            next(lines)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_RECORD_BYTES


def test_a_record_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    from certlife.contracts.records import MAX_RECORD_BYTES
    from certlife.services.partner.export import read_log_lines

    (tmp_path / "log.jsonl").write_bytes(b"x" * MAX_RECORD_BYTES + b"\n")
    assert [len(line) for _, line in read_log_lines(tmp_path)] == [MAX_RECORD_BYTES]
