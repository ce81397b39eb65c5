"""One read-committed consumer factory: every certlife consumer is built by ``committed_consumer``.

Readers of the log topics MUST read committed messages only (contracts/README.md,
"Topics"); spelling the isolation level at each call site is how one of them
forgets it. The source scan makes a new ``AIOKafkaConsumer(...)`` or a second
``"read_committed"`` literal outside ``projections/committed.py`` fail here.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from certlife.projections.committed import READ_COMMITTED, committed_consumer

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
FACTORY = ROOT / "projections" / "committed.py"
SOURCES = ("domain", "contracts", "projections", "services", "bench")


def _sources() -> list[Path]:
    return [path for folder in SOURCES for path in sorted((ROOT / folder).rglob("*.py"))]


def _called_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def test_only_the_factory_builds_a_consumer_or_names_the_isolation_level() -> None:
    found = []
    for path in _sources():
        if path == FACTORY:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call) and _called_name(node) == "AIOKafkaConsumer":
                found.append(f"{where}: AIOKafkaConsumer(...)")
            if isinstance(node, ast.Constant) and node.value == READ_COMMITTED:
                found.append(f"{where}: {READ_COMMITTED!r}")
    assert found == [], "use certlife.projections.committed instead:\n" + "\n".join(found)


def test_the_scan_sees_the_factory_itself() -> None:
    """The scan above is not vacuous: the factory's own module has both."""
    tree = ast.parse(FACTORY.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _called_name(n) == "AIOKafkaConsumer"]
    literals = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == READ_COMMITTED]
    assert len(calls) == 1 and len(literals) == 1
    assert len(_sources()) > 100


def test_the_factory_fixes_isolation_and_auto_commit() -> None:
    async def build() -> tuple[str, bool, str, str]:
        consumer = committed_consumer(
            {"bootstrap_servers": "localhost:1"}, "topic-a", auto_offset_reset="earliest"
        )
        try:
            return (
                consumer._isolation_level,
                consumer._enable_auto_commit,
                consumer._auto_offset_reset,
                consumer._client._bootstrap_servers,
            )
        finally:
            await consumer.stop()

    assert asyncio.run(build()) == ("read_committed", False, "earliest", "localhost:1")


@pytest.mark.parametrize(
    "override",
    [{"isolation_level": "read_uncommitted"}, {"enable_auto_commit": True}],
)
def test_the_fixed_settings_cannot_be_overridden(override: dict[str, object]) -> None:
    with pytest.raises(TypeError, match="fixes"):
        committed_consumer({"bootstrap_servers": "localhost:1"}, **override)
    with pytest.raises(TypeError, match="fixes"):  # nor through the client settings
        committed_consumer({"bootstrap_servers": "localhost:1", **override})
