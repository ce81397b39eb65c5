"""Command-line entry points: ``certctl`` (operators) and ``certverify`` (verifiers)."""
