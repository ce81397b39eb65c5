"""The partner mirror under a witness policy: only checkpoints meeting the quorum anchor what it applies.

Real Kafka and PostgreSQL. The checkpoints topic carries each checkpoint as
the log signed it and, later, cosigned copies (as the publisher republishes
them); the mirror merges the copies and applies records only up to the newest
checkpoint a 2-of-2 quorum cosigned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certlife.contracts.cosignature import CosignatureSigner, add_signature_lines
from certlife.contracts.trust import TrustFile
from certlife.services.demo.fixtures import generate
from certlife.services.partner.export import read_trust
from certlife.services.partner.mirror_cmd import open_mirror
from tests.integration.test_mirror import good_log, publish
from tests.kafka import admin

pytestmark = pytest.mark.integration


def _signer(name: str) -> CosignatureSigner:
    return CosignatureSigner(
        name, Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())
    )


W1, W2 = _signer("w1.partner.example"), _signer("w2.partner.example")
POLICY = f"witness a {W1.vkey()}\nwitness b {W2.vkey()}\ngroup both all a b\nquorum both\n"


def _cosign(note: str, signer: CosignatureSigner) -> str:
    return add_signature_lines(note, [signer.cosign(note[: note.rfind("\n\n") + 1], 1_750_000_000)])


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "log"
    generate(out, certificates=60, seed=11, checkpoint_every=40)
    return out


async def _mirror(bootstrap: str, database_url: str, trust: TrustFile, prefix: str, schema: str) -> Any:
    async with open_mirror(
        admin(bootstrap), database_url, trust, schema=schema, topic_prefix=prefix
    ) as mirror:
        return await mirror.run(follow=False)


async def test_mirror_applies_only_what_a_quorum_witnessed(
    kafka_bootstrap: str,
    database_url: str,
    pg_schema: str,
    export: Path,
    unique_name: Callable[[str], str],
) -> None:
    records, notes = good_log(export)
    assert len(notes) >= 3
    sizes = [int(note.split("\n")[1]) for note in notes]
    witnessed = 1  # the second checkpoint gets both cosignatures, the newest only one
    copies = [_cosign(notes[witnessed], W1), _cosign(notes[witnessed], W2), _cosign(notes[-1], W1)]
    prefix = unique_name("mirrorw") + "."
    await publish(kafka_bootstrap, prefix, records, [*notes, *copies])
    trust = read_trust(export).with_policy(POLICY)

    first = await _mirror(kafka_bootstrap, database_url, trust, prefix, pg_schema)
    assert first.failure is None
    assert first.checkpoint_size == sizes[witnessed] and first.applied == sizes[witnessed]
    assert first.cosigned_by == ("a", "b")

    # The newest checkpoint's second cosignature arrives: the mirror catches up to it.
    await publish(kafka_bootstrap, prefix, [], [_cosign(notes[-1], W2)], create=False)
    second = await _mirror(kafka_bootstrap, database_url, trust, prefix, pg_schema)
    assert second.failure is None
    assert second.checkpoint_size == sizes[-1] and second.applied == sizes[-1] - sizes[witnessed]

    # Without the policy every checkpoint anchors, as before.
    assert (
        await _mirror(kafka_bootstrap, database_url, read_trust(export), prefix, pg_schema)
    ).failure is None
