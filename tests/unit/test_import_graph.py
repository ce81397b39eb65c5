"""The import graph of certlife's packages: layers point one way, and no module cycle.

Layers, lowest first: domain ← contracts ← projections ← services. A module may
import its own layer and the layers below it, never one above. Every import
counts — also those inside functions, which would otherwise hide a cycle —
except imports under ``if TYPE_CHECKING:`` (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "certlife"
LAYERS = ("domain", "contracts", "projections", "services")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([NAMESPACE, *parts])] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (item for child in node.orelse for item in _imports(child, module, is_package))
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:
                yield f"{target}.{alias.name}", node.lineno
        else:
            yield from _imports(node, module, is_package)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for target, _ in _imports(tree, module, path.name == "__init__.py"):
            if target in modules and target != module:
                graph[module].add(target)
    return graph


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


def test_every_module_imports_under_the_certlife_namespace() -> None:
    bare = []
    for module, path in _modules().items():
        for target, line in _imports(ast.parse(path.read_text()), module, path.name == "__init__.py"):
            if target.split(".")[0] in LAYERS:
                bare.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert bare == [], "imports outside the certlife namespace:\n" + "\n".join(bare)


def test_layers_point_one_way() -> None:
    against = [
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert against == [], "imports against domain <- contracts <- projections <- services:\n" + "\n".join(
        sorted(against)
    )


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    graph = _graph()
    # A package's __init__ re-exporting its submodules is not a cycle of the submodules.
    acyclic = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    cycles = _cycles(acyclic)
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_cycles_and_layer_breaks() -> None:
    """The two checks above are not vacuous."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert len(_graph()) > 50
    assert any(targets for targets in _graph().values())
