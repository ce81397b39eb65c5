"""What a log publishes beside its records: the issuer document and the committed status lists.

``certctl export`` writes both into the export directory (``issuer.json``,
``statuslists/``) and the status API serves them (``/issuer``,
``/statuslists/{purpose}``). The publisher writes each status list it builds to
``<tiles>/statuslists/<purpose>.<N>`` (and the newest to ``<purpose>``); an
export only takes a list whose SHA-256 a ``statuslist`` record of the exported
log commits (for that purpose and log size), so every list in an export
verifies against it: ``<purpose>.<N>`` for each committed list found, and
``<purpose>`` the newest committed one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from certlife.contracts.trust import TrustFile

STATUS_LIST_DIR = "statuslists"
ISSUER_FILE = "issuer.json"
_STATUSLIST = b'"kind":"statuslist"'


def issuer_document(trust: TrustFile) -> bytes:
    """The controller document (JCS bytes) of ``trust``'s credential keys that are not compromised."""
    from certlife.contracts.credentials.controller import controller_document

    keys = [k for k in trust.credential_keys if k.compromised_from_index is None]
    return controller_document(trust.origin, keys)


@dataclass(frozen=True)
class Commitment:
    """A ``statuslist`` record of the log: which list bytes it commits."""

    index: int
    purpose: str
    log_size: int
    sha256: str


class Commitments:
    """Collects the ``statuslist`` records of a log as its records go by (a substring test first)."""

    def __init__(self) -> None:
        self.found: list[Commitment] = []

    def see(self, record: bytes) -> None:
        """Note ``record`` if it is a ``statuslist`` record (the log's producer wrote it: well-formed)."""
        if _STATUSLIST not in record:
            return
        data = json.loads(record)
        if data.get("kind") == "statuslist":
            self.found.append(Commitment(data["index"], data["purpose"], data["logSize"], data["sha256"]))

    def lists(self, tiles: Path) -> dict[str, bytes]:
        """The committed lists found under ``tiles/statuslists``: file name -> bytes."""
        folder = tiles / STATUS_LIST_DIR
        out: dict[str, bytes] = {}
        newest: dict[str, tuple[int, bytes]] = {}
        for c in self.found:
            for name in (f"{c.purpose}.{c.log_size}", c.purpose):
                try:
                    data = (folder / name).read_bytes()
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if hashlib.sha256(data).hexdigest() == c.sha256:
                    out[f"{c.purpose}.{c.log_size}"] = data
                    if c.index >= newest.get(c.purpose, (-1, b""))[0]:
                        newest[c.purpose] = (c.index, data)
                    break
        for purpose, (_, data) in newest.items():
            out[purpose] = data
        return out
