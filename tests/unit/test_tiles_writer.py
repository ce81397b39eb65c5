"""services.tiles.writer: incremental = one-shot, byte for byte; kill -9 anywhere resumes; leftovers never trusted."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts import merkle
from certlife.contracts.merkle import leaf_hash, root_from_leaf_hashes
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.tiles import MAX_ENTRY_BYTES, TileError, encode_entries, entries_path, tile_path
from certlife.services.tiles.writer import TileWriter

pytestmark = pytest.mark.unit

ORIGIN = "certlife.example/tiles-test"
SIGNER = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(32)))


def entry(i: int) -> bytes:
    """Entry ``i`` of the test log (variable length, deterministic)."""
    return b'{"i":%d,"pad":"%s"}' % (i, hashlib.sha256(str(i).encode()).hexdigest().encode() * (i % 5))


ENTRIES = [entry(i) for i in range(20_000)]
LEAVES = [leaf_hash(e) for e in ENTRIES]


def note(size: int, root: bytes | None = None) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, root or root_from_leaf_hashes(LEAVES[:size])), SIGNER)


def files(directory: Path) -> dict[str, bytes]:
    """Every visible file (hidden temporary files excluded) by relative path."""
    out = {}
    for path in directory.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            out[str(path.relative_to(directory))] = path.read_bytes()
    return out


def one_shot(directory: Path, size: int) -> dict[str, bytes]:
    writer = TileWriter(directory)
    writer.append(ENTRIES[:size])
    writer.publish(note(size))
    return files(directory)


def assert_same_tiles(expected: dict[str, bytes], got: dict[str, bytes]) -> None:
    """Every file of the one-shot build is there with the same bytes; extras are only older partials."""
    for name, data in expected.items():
        assert got.get(name) == data, name
    assert all(".p/" in name for name in got.keys() - expected.keys())


def test_rebuilding_from_scratch_is_byte_identical(tmp_path: Path) -> None:
    first = one_shot(tmp_path / "a", 5000)
    assert one_shot(tmp_path / "b", 5000) == first
    assert first["checkpoint"] == note(5000).encode()
    assert {n for n in first if ".p/" in n} == {
        "tile/0/019.p/136",
        "tile/1/000.p/19",
        "tile/entries/019.p/136",
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_appends_publishes_and_restarts_match_one_shot(tmp_path: Path, seed: int) -> None:
    size, rng = 17_000, random.Random(seed)
    expected = one_shot(tmp_path / "one", size)
    writer, done = TileWriter(tmp_path / "inc"), 0
    for cut in [*sorted(rng.sample(range(1, size), 40)), size]:
        writer.append(ENTRIES[done:cut])
        done = cut
        if rng.random() < 0.5:
            writer.publish(note(cut))
        if rng.random() < 0.3:  # a restart: what was not durable is appended again
            writer = TileWriter(tmp_path / "inc")
            assert writer.published <= writer.size <= done
            writer.append(ENTRIES[writer.size : done])
    writer.publish(note(size))
    assert_same_tiles(expected, files(tmp_path / "inc"))


def test_hashes_give_merkle_proofs_for_any_size_up_to_the_appended_one(tmp_path: Path) -> None:
    writer = TileWriter(tmp_path)
    writer.append(ENTRIES[:1300])  # nothing published: the edge is in memory
    for size in (1, 255, 256, 700, 1024, 1300):
        hashes = writer.hashes(size)
        assert hashes.root() == root_from_leaf_hashes(LEAVES[:size])
        assert hashes.inclusion_proof(size // 2) == merkle.inclusion_proof(LEAVES, size // 2, size)
        assert hashes.consistency_proof(max(1, size // 3)) == merkle.consistency_proof(
            LEAVES, max(1, size // 3), size
        )
    with pytest.raises(ValueError):
        writer.hashes(1301)


def test_resume_derives_size_from_full_bundles_and_the_checkpoint(tmp_path: Path) -> None:
    writer = TileWriter(tmp_path)
    writer.append(ENTRIES[:1000])
    writer.publish(note(600))
    assert (TileWriter(tmp_path).size, TileWriter(tmp_path).published) == (768, 600)  # 3 full bundles
    writer.publish(note(1000))
    again = TileWriter(tmp_path)
    assert (again.size, again.published) == (1000, 1000)
    assert again.hashes(1000).inclusion_proof(999) == merkle.inclusion_proof(LEAVES, 999, 1000)


def test_leftovers_are_repaired_or_overwritten_never_trusted(tmp_path: Path) -> None:
    expected = one_shot(tmp_path / "one", 70 * 256 + 5)
    directory = tmp_path / "inc"
    writer = TileWriter(directory)
    writer.append(ENTRIES[: 70 * 256 + 5])
    writer.publish(note(300))
    # As a crash would leave them: a level-0 tile missing after its bundle, one cut short, temp files,
    # a damaged partial tile of the published checkpoint, a partial of a size never published.
    (directory / tile_path(0, 69)).unlink()
    (directory / tile_path(0, 50)).write_bytes(b"short")
    (directory / "tile/0/.068.partial").write_bytes(b"half a tile")
    (directory / tile_path(0, 1, 44)).write_bytes(b"\x00" * 44 * 32)
    (directory / entries_path(1, 44)).write_bytes(b"\x00\x01x")
    (directory / tile_path(0, 70, 5)).parent.mkdir(parents=True)
    (directory / tile_path(0, 70, 5)).write_bytes(b"garbage")
    writer = TileWriter(directory)
    assert writer.size == 70 * 256
    assert (directory / tile_path(0, 1, 44)).read_bytes() == b"".join(LEAVES[256:300])
    assert (directory / entries_path(1, 44)).read_bytes() == encode_entries(ENTRIES[256:300])
    writer.append(ENTRIES[70 * 256 : 70 * 256 + 5])
    writer.publish(note(70 * 256 + 5))
    got = files(directory)
    assert_same_tiles(expected, got)
    assert got[tile_path(0, 1, 44)] == b"".join(LEAVES[256:300])


def test_a_directory_whose_tiles_contradict_its_checkpoint_is_refused(tmp_path: Path) -> None:
    one_shot(tmp_path, 600)
    (tmp_path / "checkpoint").write_text(note(600, root=b"\x01" * 32))
    with pytest.raises(TileError) as caught:
        TileWriter(tmp_path)
    assert caught.value.code == "tile-mismatch"


def test_publish_refuses_what_readers_could_not_use(tmp_path: Path) -> None:
    writer = TileWriter(tmp_path)
    writer.append(ENTRIES[:500])
    writer.publish(note(400))
    for bad, code in (
        (note(501), "tile"),
        (note(300), "checkpoint-rollback"),
        (note(450, b"\x02" * 32), "tile-mismatch"),
    ):
        with pytest.raises(TileError) as caught:
            writer.publish(bad)
        assert caught.value.code == code
    writer.publish(note(400))  # the same size again (say, with more cosignatures) is fine
    assert (tmp_path / "checkpoint").read_text() == note(400)


def test_an_oversized_entry_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    writer = TileWriter(tmp_path)
    writer.append(ENTRIES[:255])
    with pytest.raises(TileError) as caught:
        writer.append([ENTRIES[255], b"x" * (MAX_ENTRY_BYTES + 1)])
    assert caught.value.code == "entry-too-large"
    assert writer.size == 255 and not (tmp_path / entries_path(0)).exists()
    writer.append([b"y" * MAX_ENTRY_BYTES])
    assert writer.size == 256 and (tmp_path / entries_path(0)).exists()


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from tests.unit.test_tiles_writer import ENTRIES, note
from certlife.services.tiles.writer import TileWriter
writer = TileWriter(Path({directory!r}))
print("ready", writer.size, flush=True)
while writer.size < len(ENTRIES):
    start = writer.size
    writer.append(ENTRIES[start : start + 97])
    if writer.size % 5 == 0:
        writer.publish(note(writer.size))
writer.publish(note(writer.size))
print("done", flush=True)
"""


def test_kill_9_at_any_point_then_resume_gives_the_same_tiles(tmp_path: Path) -> None:
    expected = one_shot(tmp_path / "one", len(ENTRIES))
    directory, rng = tmp_path / "killed", random.Random(9)
    script = _CHILD.format(tests=str(Path(__file__).parents[2]), directory=str(directory))
    kills = 0
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().startswith("ready")
        time.sleep(rng.uniform(0.0, 0.25))
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            kills += 1
        child.wait(timeout=60)
        writer = TileWriter(directory)  # every restart must succeed
        assert writer.published <= writer.size <= len(ENTRIES)
    writer = TileWriter(directory)
    writer.append(ENTRIES[writer.size :])
    writer.publish(note(len(ENTRIES)))
    assert kills >= 1
    assert_same_tiles(expected, files(directory))
