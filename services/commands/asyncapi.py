"""(Re)write ``contracts/asyncapi.json``: the AsyncAPI 3.0 document of the command service.

The document is faststream's specification of the broker that
``certlife.services.commands.service.build_command_service`` wires with default
settings (nothing connects: an in-memory application stands in for the event
store). faststream derives a subscriber's payload from the handler signature;
the command handler takes raw batches, so the command payload is filled in
here from ``certlife.contracts.commands`` -- the same models the JSON Schemas come from.

``python -m certlife.services.commands.asyncapi`` writes the file; ``--check`` exits 1 when the
checked-in file differs from what the code produces (CI and
``tests/unit/test_asyncapi.py`` run it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from certlife.contracts import topics

#: Where the checked-in document lives.
ASYNCAPI_PATH = Path(__file__).resolve().parents[2] / "contracts" / "asyncapi.json"

_REF = "#/components/schemas/{model}"


def build_document() -> dict[str, Any]:
    """The AsyncAPI document (JSON-able) of the command service with default settings."""
    from faststream.specification import AsyncAPI

    from certlife.contracts.commands import COMMAND_ADAPTER
    from certlife.services.bootstrap import kafka_connector
    from certlife.services.commands.application import CertificateApplication
    from certlife.services.commands.service import build_command_service
    from certlife.services.infra.settings import Settings

    app = CertificateApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        # Placeholder credentials: the document shows the security scheme, never a secret.
        settings = Settings.from_env(
            {"CERTLIFE_KAFKA_USERNAME": "certlife-commands", "CERTLIFE_KAFKA_PASSWORD": "not-a-secret"}
        )
        _, broker = build_command_service(settings, app, kafka_connector(settings))
        spec = AsyncAPI(
            broker,
            title="certlife command service",
            version="1",
            description=(
                "Lifecycle commands in, one outcome per command out (exactly once, read committed); "
                "malformed commands go to the dead-letter topic with the reason in the "
                "`certlife-dlq-reason` header."
            ),
        ).to_specification()
        doc: dict[str, Any] = spec.to_jsonable()
    finally:
        app.close()
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    command = COMMAND_ADAPTER.json_schema(by_alias=True, mode="validation", ref_template=_REF)
    schemas.update(command.pop("$defs", {}))
    schemas["Command"] = {"title": "Command", **command}
    for name, message in doc["components"].get("messages", {}).items():
        if name.startswith(topics.COMMANDS + ":"):
            message["payload"] = {"$ref": _REF.format(model="Command")}
    if not any(
        m["payload"].get("$ref", "").endswith("EmptyPayload") for m in doc["components"]["messages"].values()
    ):
        schemas.pop("EmptyPayload", None)
    return doc


def render(doc: dict[str, Any]) -> str:
    """Serialise the document the way it is checked in (stable, human-readable)."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the document, or with ``--check`` report drift (exit 1)."""
    parser = argparse.ArgumentParser(
        prog="python -m certlife.services.commands.asyncapi", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in file is out of date")
    parser.add_argument("--path", type=Path, default=ASYNCAPI_PATH, help="file to write or check")
    args = parser.parse_args(argv)
    text = render(build_document())
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(
                f"{args.path} is out of date: run `python -m certlife.services.commands.asyncapi`",
                file=sys.stderr,
            )
            return 1
        print(f"{args.path} is up to date")
        return 0
    args.path.write_text(text, encoding="utf-8")
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
