"""``--kit DIR`` for certverify's Kafka commands: a partner kit's address, credentials and CA."""

from __future__ import annotations

import argparse


def add_kit_option(parser: argparse.ArgumentParser) -> None:
    """``--kit DIR``: the Kafka credentials of a partner kit (``certctl partners add``)."""
    parser.add_argument(
        "--kit", metavar="DIR", help="partner kit folder: Kafka address, credentials and CA (kafka.env)"
    )


def apply_kit(args: argparse.Namespace) -> None:
    """Put the kit's ``CERTLIFE_KAFKA_*`` settings into this process's environment (never printed)."""
    if getattr(args, "kit", None):
        import os
        from pathlib import Path

        from certlife.services.infra.kit import read_kit_env

        os.environ.update(read_kit_env(Path(args.kit)))
