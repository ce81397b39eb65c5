"""``certctl export DIR``: write the NORMATIVE export directory from the Kafka log topics.

Beside the log, checkpoints and trust file it writes ``issuer.json`` (the
credential keys' controller document) and copies from the publisher's tiles
directory the status lists the exported log commits (``statuslists/``:
:mod:`certlife.services.partner.published`).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from certlife.services.cli.base import EXIT_USAGE, CliError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``export`` command."""
    parser = sub.add_parser("export", help="write log.jsonl, checkpoints/ and trust.json from Kafka")
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument(
        "--trust",
        type=Path,
        default=None,
        help="copy this trust.json (default: build it from the relay's key history)",
    )
    parser.add_argument(
        "--tiles",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the publisher writes status lists (default: CERTLIFE_TILES_DIR)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Read the committed log (read_committed) up to its current end and write the export."""
    from certlife.contracts.notes import Checkpoint
    from certlife.contracts.trust import TrustFile
    from certlife.services import bootstrap
    from certlife.services.cli.keys_cmd import trust_bytes
    from certlife.services.infra.settings import Settings
    from certlife.services.partner.export import ExportError, ExportWriter
    from certlife.services.partner.kafka_source import open_kafka
    from certlife.services.partner.published import Commitments, issuer_document
    from certlife.services.partner.sources import SourceError, with_progress

    settings = Settings.from_env()
    try:
        if args.trust is not None:
            trust = TrustFile.from_bytes(args.trust.read_bytes())
        else:
            trust = TrustFile.from_bytes(
                asyncio.run(trust_bytes(settings, bootstrap.build_keystore(settings)))
            )
    except OSError as exc:
        raise CliError(f"cannot read {args.trust}: {exc.strerror}", EXIT_USAGE) from None
    prefix = settings.topic_prefix
    commitments = Commitments()
    try:
        source = open_kafka(f"kafka://{settings.kafka_bootstrap}?prefix={prefix}", settings.kafka)
        with ExportWriter(args.directory) as writer:
            for _, value in with_progress(source, "exporting"):
                writer.append(value)
                commitments.see(value)
            for _, note in source.checkpoints:
                size = Checkpoint.parse(note.split("\n\n", 1)[0] + "\n").size
                if size <= writer.records:
                    writer.write_checkpoint(size, note)
            writer.write_trust(trust)
            lists = commitments.lists(args.tiles or settings.publisher.tiles_dir)
            writer.write_published(lists, issuer_document(trust))
    except (SourceError, ExportError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    print(
        f"exported {writer.records} records, {len(source.checkpoints)} checkpoints and "
        f"{len(lists)} status list file(s) to {args.directory}"
    )
    return 0
