"""(Re)write ``contracts/openapi.json``: the OpenAPI 3.1 document of the status API.

The document is what ``build_app`` serves at ``/openapi.json`` (no
connection is opened to build it). ``python -m certlife.services.api.openapi``
writes the file; ``--check`` exits 1 when the checked-in file differs from what
the code produces (``tests/unit/test_openapi.py`` runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: Where the checked-in document lives.
OPENAPI_PATH = Path(__file__).resolve().parents[2] / "contracts" / "openapi.json"


def build_document() -> dict[str, Any]:
    """The OpenAPI document of the API with default options (no pool: nothing is queried)."""
    from certlife.services.api.app import build_app, openapi_document

    return openapi_document(build_app(None, '"public"', Path("/nonexistent"), b"{}"))


def render(doc: dict[str, Any]) -> str:
    """The file's text: indented JSON, keys in the document's order, final newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the document, or with ``--check`` say whether the checked-in one is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    parser.add_argument("--path", type=Path, default=OPENAPI_PATH, help="default contracts/openapi.json")
    args = parser.parse_args(argv)
    expected = render(build_document())
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != expected:
            print(f"{args.path} is out of date: run python -m certlife.services.api.openapi", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(expected, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
