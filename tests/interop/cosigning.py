"""certlife's witness client (services/publisher's Cosigner) asking witnesses, in-process for tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from certlife.contracts.cosignature import CosignatureVerifier
from certlife.contracts.tiles import TiledHashes, tile_path
from certlife.services.publisher.cosigner import Cosigner, CosignerOptions, Witness


def tile_proofs(tiles: Path) -> Callable[[int, int], Sequence[bytes]]:
    """``(old, new) -> consistency proof`` read by certlife's TiledHashes from a tiles directory."""

    def read(level: int, index: int, width: int) -> bytes:
        return (tiles / tile_path(level, index, width)).read_bytes()

    def proofs(old: int, new: int) -> Sequence[bytes]:
        return TiledHashes(read, new).consistency_proof(old)

    return proofs


def note_size(note: str) -> int:
    """The tree size of a checkpoint note."""
    return int(note.split("\n")[1])


async def _collect(
    witnesses: list[Witness], notes: Sequence[str], tiles: Path, timeout: float
) -> dict[int, str]:
    published: dict[int, str] = {}
    arrived = asyncio.Event()

    async def publish(size: int, note: str) -> None:
        published[size] = note
        arrived.set()

    async with httpx.AsyncClient() as client:
        options = CosignerOptions(timeout=10, backoff_initial=0.2, backoff_cap=2, gather=0.2)
        cosigner = Cosigner(witnesses, client, tile_proofs(tiles), publish, options)
        stop = asyncio.Event()
        task = asyncio.create_task(cosigner.run(stop))
        try:
            for note in notes:
                size = note_size(note)
                cosigner.offer(note)
                async with asyncio.timeout(timeout):
                    while size not in published or published[size].count("\n— ") < 1 + len(witnesses):
                        arrived.clear()
                        await arrived.wait()
        finally:
            stop.set()
            await task
    return published


def cosign_in_order(
    witnesses: dict[str, tuple[str, str]], notes: Sequence[str], tiles: Path, timeout: float = 60
) -> dict[int, str]:
    """Offer each note in turn to certlife's Cosigner; return each size's note with every witness's line.

    ``witnesses`` maps a name to (vkey, URL); ``tiles`` is where the proofs come from.
    """
    asked = [
        Witness(name, CosignatureVerifier.from_string(vkey), url) for name, (vkey, url) in witnesses.items()
    ]
    return asyncio.run(_collect(asked, notes, tiles, timeout))
