"""The README's main command: bring certlife up on this machine.

Starts the local stack unless endpoints are configured, then reports where
everything answers.
"""

from __future__ import annotations

import os
import sys

from services.cli.base import run_guarded


def _run() -> int:
    from services import stack

    bootstrap = os.environ.get("CERTLIFE_KAFKA_BOOTSTRAP")
    database = os.environ.get("CERTLIFE_DATABASE_URL")
    if not (bootstrap and database):
        endpoints = stack.up()
        bootstrap = bootstrap or endpoints.kafka_bootstrap
        database = database or endpoints.database_url
    print("certlife stack is up")
    print(f"  kafka bootstrap: {bootstrap}")
    print(f"  postgres:        {database}")
    print("stop it with: ./dev certctl stack down")
    return 0


def main() -> int:
    """Entry point of ``./dev main``."""
    return run_guarded("certlife", _run)


if __name__ == "__main__":
    sys.exit(main())
