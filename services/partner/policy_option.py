"""``--witness-policy FILE``, shared by certverify's commands and ``certverify mirror``.

:func:`add_witness_policy_option` adds the option; :func:`read_trust` reads
``--trust`` and applies it. Both ``certverify`` (and its handlers in
``commands``) and ``mirror_cmd`` import this module, which imports neither, so
the command modules stay free of import cycles. Only ``argparse`` loads up
front: ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certlife.contracts.trust import TrustFile

#: A witness policy file larger than this is refused unread (the spec's 32 witnesses take ~5 KiB).
MAX_POLICY_SIZE = 1 << 20


def add_witness_policy_option(parser: argparse.ArgumentParser) -> None:
    """``--witness-policy FILE``: a C2SP tlog-policy file that replaces the trust file's ``witnessPolicy``."""
    parser.add_argument(
        "--witness-policy",
        metavar="FILE",
        help="a witness policy (C2SP tlog-policy text) replacing the trust file's witnessPolicy: "
        "only checkpoints cosigned by its quorum of witnesses anchor records",
    )


def read_trust(args: argparse.Namespace) -> TrustFile:
    """The trust file of ``--trust``, its witness policy replaced by ``--witness-policy FILE`` if given.

    A witness policy file that is unreadable, not UTF-8 or malformed is a
    ``SourceError`` (one line, exit 2) naming the file and the line.
    """
    from certlife.contracts.errors import ContractError
    from certlife.services.partner.sources import SourceError, read_bytes, read_trust_file

    trust = read_trust_file(args.trust)
    path = getattr(args, "witness_policy", None)
    if path is None:
        return trust
    try:
        text = read_bytes(path, "witness policy", MAX_POLICY_SIZE).decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: witness policy is not UTF-8 text") from None
    try:
        return trust.with_policy(text)
    except ContractError as exc:
        raise SourceError(f"{path}: {exc}") from None
