"""(Re)write ``contracts/schemas/*.json`` from the pydantic models.

Run ``python -m certlife.services.commands.gen_schemas`` after changing ``contracts/commands.py``;
``tests/unit/test_command_schemas.py`` fails while the checked-in files drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from certlife.contracts.commands import COMMAND_ADAPTER, OUTCOME_ADAPTER

#: Where the checked-in schemas live.
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "contracts" / "schemas"

_BASE_ID = "https://certlife.example/schemas/"


def schemas() -> dict[str, dict[str, Any]]:
    """Return ``{file name: JSON Schema}`` for every generated schema."""
    out: dict[str, dict[str, Any]] = {}
    for name, adapter, title in (
        ("command.v1.json", COMMAND_ADAPTER, "certlife command v1"),
        ("outcome.v1.json", OUTCOME_ADAPTER, "certlife command outcome v1"),
    ):
        schema = adapter.json_schema(by_alias=True, mode="validation")
        out[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": _BASE_ID + name,
            "title": title,
            **schema,
        }
    return out


def render(schema: dict[str, Any]) -> str:
    """Serialise a schema the way it is checked in (stable, human-readable)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    """Write every schema file; print the paths written."""
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas().items():
        path = SCHEMA_DIR / name
        path.write_text(render(schema), encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
