"""``certctl keys credential generate|announce``: the key that signs Verifiable Credentials.

A credential key is an Ed25519 key of its own (never a record key), kept in
CERTLIFE_KEYS_DIR as ``credential-<keyId>.pem``, encrypted with the key
passphrase like record keys; nothing here prints key material or the
passphrase. ``announce`` queues a ``credential-key`` request: the relay writes
the announcement into the log (contracts/LOG.md §4.3), and the key signs
credentials and status lists from the next log index on.
"""

from __future__ import annotations

import argparse

from certlife.services.cli.base import CliError, admitted_text


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys credential`` and its two actions."""
    parser = actions.add_parser("credential", help="create and announce the credential key")
    steps = parser.add_subparsers(dest="credential_action", required=True, metavar="ACTION")
    steps.add_parser("generate", help="create a new credential key in the key folder (not yet announced)")
    announce = steps.add_parser("announce", help="queue the announcement of a credential key in the log")
    announce.add_argument("key_id", nargs="?", default=None, help="default: the newest credential key")
    announce.add_argument("--reason", default=None, type=admitted_text)


def generate(keystore) -> int:
    """Create a credential key; print its id (public) and what to do next."""
    kid = keystore.generate_credential_key()
    print(f"new credential key {kid} in {keystore.directory}")
    print(f"announce it with `certctl keys credential announce {kid}`")
    return 0


async def announce(store, keystore, args: argparse.Namespace) -> int:
    """Queue a ``credential-key`` request for the key named (or the newest on disk)."""
    from certlife.contracts.keys import public_raw
    from certlife.services.relay.store import KeyRequest

    ids = keystore.credential_key_ids()
    kid = args.key_id or (ids[-1] if ids else None)
    if kid is None:
        raise CliError("no credential key yet: run `certctl keys credential generate`")
    if kid not in ids:
        raise CliError(f"no credential key {kid} in {keystore.directory}")
    if kid in {row[0] for row in await store.credential_key_history()}:
        raise CliError(f"credential key {kid} is already announced in the log")
    if kid in {row[0] for row in await store.key_history()}:
        raise CliError(f"key {kid} is a record key")
    public = public_raw(keystore.credential_key(kid))
    request = KeyRequest(0, "credential-key", kid, None, None, args.reason, public_key=public)
    await store.request_key_transition(request)
    print(f"announcement of credential key {kid} queued: the relay writes it into the log")
    return 0
