"""``certctl keys generate|rotate|compromise|trust|credential``: the log's signing keys.

Private keys stay in CERTLIFE_KEYS_DIR as encrypted PKCS#8; nothing here ever
prints key material or the passphrase. Rotations, compromise markers and
credential key announcements (``keys credential``, :mod:`.keys_credential`) are
queued for the relay, which writes them into the log as ``kind: "key"`` records.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from certlife.services.cli import keys_credential
from certlife.services.cli.base import CliError, admitted_text


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``keys`` command group."""
    parser = sub.add_parser("keys", help="generate, rotate and publish the log's signing keys")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("generate", help="create the first record key and the note key (if missing)")
    rotate = actions.add_parser("rotate", help="create a new record key and queue the rotation")
    rotate.add_argument("--reason", default=None, type=admitted_text)
    comp = actions.add_parser(
        "compromise", help="mark a record or credential key compromised from a log index"
    )
    comp.add_argument("key_id")
    comp.add_argument("--from-index", type=int, required=True, dest="from_index")
    comp.add_argument("--reason", default=None, type=admitted_text)
    trust = actions.add_parser("trust", help="write the partners' trust.json")
    trust.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    keys_credential.register(actions)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out one keys action."""
    from certlife.services import bootstrap
    from certlife.services.infra.settings import Settings

    settings = Settings.from_env()
    store = bootstrap.build_keystore(settings)
    if args.action == "generate":
        ids = store.record_key_ids()
        kid = ids[0] if ids else store.generate_record_key()
        from certlife.contracts.notes import NoteSigner

        note = NoteSigner(settings.origin, store.ensure_note_key())
        print(f"record key: {kid}{' (existing)' if ids else ' (new)'}")
        print(f"note key:   {note.verifier_key()}")
        print(f"keys are in {store.directory}")
        return 0
    if args.action == "credential" and args.credential_action == "generate":
        return keys_credential.generate(store)
    if args.action == "trust":
        data = asyncio.run(trust_bytes(settings, store))
        if args.out is None:
            sys.stdout.buffer.write(data + b"\n")
        else:
            args.out.write_bytes(data + b"\n")
            print(f"wrote {args.out}")
        return 0
    return asyncio.run(_queue(settings, store, args))


async def _connect(settings):
    import asyncpg

    from certlife.services.relay.store import RelayStore

    try:
        conn = await asyncpg.connect(settings.database_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise CliError(f"cannot reach PostgreSQL ({exc}): check CERTLIFE_DATABASE_URL", 1) from None
    store = RelayStore(conn, settings.db_schema)
    await store.create()
    return conn, store


async def _queue(settings, keystore, args) -> int:
    from certlife.services.relay.store import KeyRequest

    conn, store = await _connect(settings)
    try:
        if args.action == "credential":
            return await keys_credential.announce(store, keystore, args)
        if args.action == "rotate":
            kid = keystore.generate_record_key()
            request = KeyRequest(0, "rotate", kid, None, None, args.reason)
            await store.request_key_transition(request)
            print(f"new record key {kid}; rotation queued: the relay writes it into the log")
        else:
            history = {row[0]: row for row in await store.key_history()}
            position = await store.position()
            size = position.tree_size if position else 0
            subject = history.get(args.key_id)
            credential = args.key_id in {row[0] for row in await store.credential_key_history()}
            if subject is None and not credential:
                raise CliError(
                    f"key {args.key_id} has not signed this log and is no announced credential key "
                    "(see `certctl keys trust`)"
                )
            if subject is not None and subject[3] is None:
                raise CliError(
                    f"key {args.key_id} is the active key: run `certctl keys rotate` first, "
                    "then mark it compromised"
                )
            if not 0 <= args.from_index <= size:
                raise CliError(f"--from-index must be between 0 and the log size ({size})")
            request = KeyRequest(0, "compromise", None, args.key_id, args.from_index, args.reason)
            await store.request_key_transition(request)
            print(f"compromise of {args.key_id} from index {args.from_index} queued")
    finally:
        await conn.close()
    return 0


async def trust_bytes(settings, keystore) -> bytes:
    """The partners' trust.json: key ranges from the relay's history, plus the note key."""
    from certlife.contracts.keys import public_raw
    from certlife.contracts.notes import NoteSigner
    from certlife.contracts.trust import TrustedKey, TrustFile

    conn, store = await _connect(settings)
    try:
        history = await store.key_history()
        credential_history = await store.credential_key_history()
    finally:
        await conn.close()
    if history:
        keys = [TrustedKey(k, bytes(p), f, u, c) for k, p, f, u, c in history]
    else:
        ids = keystore.record_key_ids()
        if not ids:
            raise CliError("no record key yet: run `certctl keys generate`", 1)
        keys = [TrustedKey(ids[0], public_raw(keystore.record_key(ids[0])), 0)]
    note = NoteSigner(settings.origin, keystore.ensure_note_key())
    credential_keys = tuple(TrustedKey(k, bytes(p), f, u, c) for k, p, f, u, c in credential_history)
    return TrustFile(
        settings.origin, tuple(keys), (note.verifier_key(),), credential_keys=credential_keys
    ).to_bytes()
