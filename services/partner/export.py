"""The export directory (contracts/LOG.md §10.2): read it, and write it atomically.

::

    DIR/log.jsonl          one record per line, exact record bytes, index order
    DIR/checkpoints/<N>    one signed checkpoint note per file, N = tree size
    DIR/trust.json         what a partner trusts
    DIR/statuslists/<P>    status list credentials the log commits (optional; .published)
    DIR/issuer.json        the issuer's controller document (optional; .published)

``ExportWriter`` stages files under hidden names and renames them into place when
its block succeeds, ``log.jsonl`` last: an export with a ``log.jsonl`` is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from certlife.contracts.errors import ContractError
from certlife.contracts.notes import MAX_NOTE_SIZE, signature_count
from certlife.contracts.records import MAX_RECORD_BYTES
from certlife.contracts.trust import TrustFile
from certlife.domain.errors import CertlifeError
from certlife.services.infra.fileio import sync_directory, write_file_atomic

LOG_FILE = "log.jsonl"
CHECKPOINT_DIR = "checkpoints"
TRUST_FILE = "trust.json"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_BUFFER = 1 << 20


class ExportError(CertlifeError, code="export"):
    """An export directory or file that is missing, unreadable or malformed (one line)."""


def _log_path(directory: str | Path) -> Path:
    path = Path(directory)
    if not path.is_dir():
        raise ExportError(f"{path}: export directory not found")
    return path / LOG_FILE


def read_log_lines(directory: str | Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, record_bytes)`` of ``DIR/log.jsonl``, streaming.

    Line numbers count from 1 (line ``n`` should hold index ``n - 1``); the
    bytes are the line exactly, without its ``\\n``. A last line without its
    ``\\n`` (a truncated file) is yielded, then ``ExportError`` is raised; a line
    longer than ``MAX_RECORD_BYTES`` raises ``ExportError`` without being read whole.
    """
    path = _log_path(directory)
    try:
        handle = path.open("rb", buffering=_BUFFER)
    except OSError as exc:
        why = "log file not found" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc.strerror}"
        raise ExportError(f"{path}: {why}") from None
    limit = MAX_RECORD_BYTES + 1  # a record and its newline
    with handle:
        number = 0
        while line := handle.readline(limit + 1):  # never more than one record in memory
            number += 1
            if line.endswith(b"\n"):
                yield number, line[:-1]
            elif len(line) > limit - 1:
                raise ExportError(
                    f"{path}: line {number} is longer than {MAX_RECORD_BYTES} bytes (the record limit)"
                )
            else:
                yield number, line
                raise ExportError(f"{path}: line {number} does not end in a newline (truncated file?)")


def read_checkpoints(directory: str | Path) -> list[tuple[int, str]]:
    """Return ``(size from the file name, note text)`` of every checkpoint, by size.

    File names must be decimal tree sizes; whether a note's size matches its
    name is for the verifier to check. Hidden files are ignored; a missing
    ``checkpoints`` directory means no checkpoints.
    """
    folder = _log_path(directory).parent / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found: list[tuple[int, str]] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if not _DECIMAL.fullmatch(entry.name) or not entry.is_file():
            raise ExportError(f"{entry}: checkpoint file name is not a tree size in decimal")
        try:
            found.append((int(entry.name), _read(entry, "checkpoint", MAX_NOTE_SIZE).decode("utf-8")))
        except UnicodeDecodeError:
            raise ExportError(f"{entry}: not UTF-8 text") from None
    return sorted(found, key=lambda item: item[0])


def _read(path: Path, what: str, limit: int = 16 << 20) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise ExportError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise ExportError(f"{path}: larger than {limit} bytes")
    return data


def read_trust(path: str | Path) -> TrustFile:
    """Read and check ``trust.json`` (given the file or its export directory)."""
    file = Path(path)
    if file.is_dir():
        file = file / TRUST_FILE
    try:
        return TrustFile.from_bytes(_read(file, "trust file"))
    except ContractError as exc:
        raise ExportError(f"{file}: {exc}") from None


class ExportWriter:
    """Writes an export directory (buffered); nothing claims completeness until the block succeeds.

    In the ``with`` block: ``append`` records in index order, ``write_checkpoint``
    notes, ``write_trust`` once. On success the staged checkpoints and trust file
    replace any previous ones, then ``log.jsonl`` is renamed into place; on an
    exception everything staged is removed and a previous export is left as it was.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.records = 0
        self._log: BinaryIO | None = None
        self._stage_log = self.directory / f".{LOG_FILE}.partial"
        self._stage_checkpoints = self.directory / f".{CHECKPOINT_DIR}.partial"
        self._trust: bytes | None = None
        self._extra: dict[str, bytes] = {}

    def __enter__(self) -> ExportWriter:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self._stage_checkpoints, ignore_errors=True)
            self._stage_checkpoints.mkdir()
            self._log = self._stage_log.open("wb", buffering=_BUFFER)
        except OSError as exc:
            self._discard()
            raise ExportError(f"{self.directory}: cannot write the export: {exc.strerror}") from None
        return self

    def append(self, record: bytes) -> None:
        """Append one record's exact bytes as the next line."""
        if self._log is None:
            raise ExportError(f"{self.directory}: ExportWriter used outside its with block")
        self._log.write(record)
        self._log.write(b"\n")
        self.records += 1

    def write_checkpoint(self, size: int, note: str) -> None:
        """Stage the signed checkpoint note for tree size ``size``.

        A size may come several times (the log's note, then the same checkpoint
        cosigned by witnesses): the note with the most signature lines is kept,
        so a cosigned note replaces the plain one and never the reverse.
        """
        if type(size) is not int or size < 0:
            raise ExportError(f"checkpoint size {size!r} is not a non-negative integer")
        path = self._stage_checkpoints / str(size)
        if path.exists() and signature_count(path.read_bytes().decode("utf-8")) >= signature_count(note):
            return
        path.write_bytes(note.encode("utf-8"))

    def write_published(self, lists: dict[str, bytes], issuer: bytes) -> None:
        """Stage ``statuslists/<name>`` for each of ``lists`` and ``issuer.json`` (written on success)."""
        from certlife.services.partner.published import ISSUER_FILE, STATUS_LIST_DIR

        self._extra = {f"{STATUS_LIST_DIR}/{name}": data for name, data in lists.items()}
        self._extra[ISSUER_FILE] = issuer

    def write_trust(self, trust: TrustFile) -> None:
        """Stage ``trust.json`` (indented JSON, for people to read and edit)."""
        self._trust = (json.dumps(trust.to_json(), indent=2, ensure_ascii=False) + "\n").encode()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self._commit()
        except OSError as error:
            raise ExportError(f"{self.directory}: cannot complete the export: {error.strerror}") from None
        finally:
            self._discard()  # after a commit, only leftovers of a failed one remain

    def _commit(self) -> None:
        if self._trust is None:
            raise ExportError(f"{self.directory}: write_trust was never called")
        assert self._log is not None
        self._log.flush()
        os.fsync(self._log.fileno())
        self._log.close()
        self._log = None
        final_log = self.directory / LOG_FILE
        final_log.unlink(missing_ok=True)  # from here on the directory is not a complete export
        write_file_atomic(self.directory / TRUST_FILE, self._trust)
        self._commit_published()
        checkpoints, old = self.directory / CHECKPOINT_DIR, self.directory / f".{CHECKPOINT_DIR}.old"
        if checkpoints.exists():
            shutil.rmtree(old, ignore_errors=True)
            checkpoints.rename(old)
        self._stage_checkpoints.rename(checkpoints)
        shutil.rmtree(old, ignore_errors=True)
        os.replace(self._stage_log, final_log)
        sync_directory(self.directory)

    def _commit_published(self) -> None:
        """Replace ``statuslists/`` as a whole (a list not committed by this log must not stay)."""
        if not self._extra:
            return
        lists, stage = self.directory / "statuslists", self.directory / ".statuslists.partial"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        for name, data in self._extra.items():
            if name.startswith("statuslists/"):
                (stage / name.removeprefix("statuslists/")).write_bytes(data)
            else:
                write_file_atomic(self.directory / name, data)
        shutil.rmtree(lists, ignore_errors=True)
        stage.rename(lists)

    def _discard(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        with contextlib.suppress(OSError):
            self._stage_log.unlink(missing_ok=True)
        shutil.rmtree(self._stage_checkpoints, ignore_errors=True)
