"""certlife against Go implementations nobody here wrote (golang.org/x/mod/sumdb, filippo.io/torchwood).

The Go programs live in tests/interop/go and are built by the test run (cached by source
hash under $CERTLIFE_HOME/interop-bin); without Go or the module proxy these tests fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.notes import NoteSigner, sign_note
from tests.interop.harness import LogKeys, run_go

pytestmark = pytest.mark.integration


def test_go_note_verifier_accepts_certlife_checkpoints(
    go_bin: dict[str, Path], certlife_log: tuple[Path, LogKeys], tmp_path: Path
) -> None:
    export, keys = certlife_log
    notes = sorted((export / "checkpoints").iterdir(), key=lambda p: int(p.name))
    assert len(notes) >= 3
    run = run_go(go_bin["noteverify"], "-vkey", keys.vkey, *map(str, notes))
    assert run.returncode == 0, run.results
    assert [r["size"] for r in run.results] == [int(p.name) for p in notes]
    assert all(r["ok"] and r["verified_by"] == [keys.origin] for r in run.results)

    # The same Go verifier refuses a checkpoint whose body was altered after signing, and
    # one signed by another key under the log's name.
    body, _, signatures = notes[-1].read_text().partition("\n\n")
    lines = body.split("\n")
    tampered = tmp_path / "tampered"
    tampered.write_text("\n".join([lines[0], str(int(lines[1]) + 1), *lines[2:]]) + "\n\n" + signatures)
    impostor = tmp_path / "impostor"
    impostor.write_text(sign_note(body + "\n", [NoteSigner(keys.origin, Ed25519PrivateKey.generate())]))
    for bad in (tampered, impostor):
        refused = run_go(go_bin["noteverify"], "-vkey", keys.vkey, str(bad))
        assert refused.returncode == 1
        assert not refused.last["ok"] and "checkpoint note" in refused.last["error"]
