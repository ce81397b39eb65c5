"""Command-line entry points: ``certctl`` (operators); ``certverify`` lives with the partner tools."""

#: The module each command-line tool runs as (``python -m MODULE``), by tool name.
TOOL_MODULES = {
    "certctl": "certlife.services.cli.certctl",
    "certverify": "certlife.services.partner.certverify",
}
